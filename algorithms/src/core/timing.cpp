#include <lorafgc/core/timing.hpp>

#include <algorithm>

namespace lorafgc {

TimingSummary summarize_times(std::vector<double> seconds) {
  TimingSummary t;
  t.seconds = seconds;
  if (seconds.empty()) return t;
  std::sort(seconds.begin(), seconds.end());
  t.median = seconds[seconds.size() / 2];
  t.min = seconds.front();
  return t;
}

}  // namespace lorafgc
