#pragma once
// One stderr line per recorded point: count, elapsed time, ETA, the point and
// its result.
#include "sweep_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

namespace lorafgc::sweep {

class Progress {
 public:
  Progress(const SweepConfig& c, std::size_t existing, bool quiet)
      : c_(c), quiet_(quiet), total_(c.point_count()), remaining_(total_ - std::min(total_, existing)) {}

  void report(const nlohmann::json& rec) {
    ++done_;
    remaining_ -= remaining_ > 0;
    if (quiet_) return;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const double eta = elapsed / static_cast<double>(done_) * static_cast<double>(remaining_);
    std::string what = rec["status"] == "ok" ? fmt::format("{:.4g} s", rec["median_s"].get<double>())
                                             : rec["status"].get<std::string>();
    if (rec.contains("error") && rec["error"].is_object())
      what += fmt::format(", err {:.2g}", rec["error"]["max_rel"].get<double>());
    const std::string where = rec.contains("rank") ? fmt::format(" (rank {})", rec["rank"].get<int>()) : "";
    fmt::print(stderr, "[{}/{}] elapsed {} ETA {}  {} {} {} d={} L={} {}={}: {}{}\n", total_ - remaining_, total_,
               clock_text(elapsed), clock_text(eta), rec["algorithm"].get<std::string>(),
               rec["mode"].get<std::string>(), rec["dtype"].get<std::string>(), rec["d"].get<long long>(),
               rec["L"].get<long long>(), c_.norm_axis, rec["norm"].get<double>(), what, where);
  }

 private:
  using Clock = std::chrono::steady_clock;
  static std::string clock_text(double seconds) {
    const long s = static_cast<long>(seconds + 0.5);
    return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  }

  const SweepConfig& c_;
  bool quiet_;
  std::size_t total_, remaining_, done_ = 0;
  Clock::time_point start_ = Clock::now();
};

}  // namespace lorafgc::sweep
