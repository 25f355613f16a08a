#pragma once
// A sweep's unit of work: a chain, one (d, r, mode, dtype, norm) of the grid
// over every L in ascending order. A point predicted to exceed time_limit_s is
// skipped from the fastest rate its algorithm measured at a shorter L of the
// same chain, so a chain's records do not depend on which process ran the chains
// before it: a distributed sweep (sweep/distributed.hpp) hands out chains and
// records what one process would.
#include "sweep_config.hpp"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace lorafgc::sweep {

struct Chain {
  long long d = 0, r = 0;
  std::string mode, dtype;
  double norm = 0;
};

// In the single-process order: d, r, mode, dtype, norm.
std::vector<Chain> chains_of(const SweepConfig& c);

class ChainRunner {
 public:
  // done(point_key): already recorded (skipped); record(r): a finished point.
  ChainRunner(const SweepConfig& c, std::function<bool(const std::string&)> done,
              std::function<void(const nlohmann::json&)> record)
      : c_(c), done_(std::move(done)), record_(std::move(record)) {}
  void run(const Chain& chain);
  // The results-file keys (point_key) of the chain's points.
  static std::vector<std::string> point_keys(const SweepConfig& c, const Chain& chain);

 private:
  static nlohmann::json base_record(const SweepConfig& c, const std::string& spec, const Chain& chain, long long L);
  template <class T>
  void instance(const Chain& chain, long long L);

  const SweepConfig& c_;
  std::function<bool(const std::string&)> done_;
  std::function<void(const nlohmann::json&)> record_;
  std::map<std::string, double> rates_;  // per algorithm spec, this chain's
};

}  // namespace lorafgc::sweep
