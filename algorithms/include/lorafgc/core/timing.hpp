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

// Runs fn() `repetitions` times (at least once); stops after the first run
// that takes longer than limit_seconds, which is then the last one recorded.
template <class Fn>
TimingSummary time_repetitions(int repetitions, double limit_seconds, Fn&& fn) {
  std::vector<double> seconds;
  do {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  } while (static_cast<int>(seconds.size()) < repetitions && seconds.back() <= limit_seconds);
  return summarize_times(std::move(seconds));
}

}  // namespace lorafgc
