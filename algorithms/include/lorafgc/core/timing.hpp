#pragma once
// Wall-clock timing of repeated runs, and the one definition of the median the
// tools report (the upper median: element n/2 of the sorted times).
#include <chrono>
#include <vector>

namespace lorafgc {

struct TimingSummary {
  std::vector<double> seconds;  // in the order measured
  double median = 0;
  double min = 0;
};

TimingSummary summarize_times(std::vector<double> seconds);

// Runs fn() `repetitions` times (at least once), and more while the timed
// total is below min_total_seconds (at most max_repetitions in all): a median of
// sub-millisecond runs on a shared machine needs tens of runs to be stable.
// Stops after the first run that takes longer than limit_seconds, which is then
// the last one recorded.
template <class Fn>
TimingSummary time_repetitions(int repetitions, double limit_seconds, Fn&& fn, double min_total_seconds = 0,
                               int max_repetitions = 1000) {
  std::vector<double> seconds;
  double total = 0;
  auto more = [&] {
    const int n = static_cast<int>(seconds.size());
    if (seconds.back() > limit_seconds) return false;
    return n < repetitions || (total < min_total_seconds && n < max_repetitions);
  };
  do {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    total += seconds.back();
  } while (more());
  return summarize_times(std::move(seconds));
}

}  // namespace lorafgc
