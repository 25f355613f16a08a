// The process-wide calibration cache (calibration_cache.hpp).
#include "lora/auto_select/calibration_cache.hpp"

#include <lorafgc/core/errors.hpp>
#include <lorafgc/lora/projection.hpp>
#include <lorafgc/lora/registry.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>

namespace lorafgc::lora::detail {

namespace {

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

MachineRates cached_rates(int scalar_bytes, int threads) {
  static std::map<std::pair<int, int>, MachineRates> rates;
  std::lock_guard<std::mutex> lock(cache_mutex());
  const auto key = std::make_pair(scalar_bytes, threads);
  auto it = rates.find(key);
  if (it == rates.end()) it = rates.emplace(key, calibrate_machine(scalar_bytes, threads)).first;
  return it->second;
}

std::optional<AlgorithmCalibration> cached_calibration(const std::string& spec, const ProblemShape& shape,
                                                       int scalar_bytes, int threads) {
  const MachineRates rates = cached_rates(scalar_bytes, threads);
  using Key = std::tuple<std::string, long long, long long, bool, int>;
  static std::map<Key, std::optional<AlgorithmCalibration>> calibrations;
  std::lock_guard<std::mutex> lock(cache_mutex());
  const Key key{spec, shape.width, shape.rank, shape.adapted[index(Projection::K)], scalar_bytes};
  auto it = calibrations.find(key);
  if (it == calibrations.end()) {
    std::optional<AlgorithmCalibration> c;
    try {
      c = calibrate_algorithm(spec, shape, scalar_bytes, rates);
    } catch (const InvalidArgument&) {  // refused: predicted to take long on the calibration shapes
    }
    it = calibrations.emplace(key, c).first;
  }
  return it->second;
}

namespace {

struct Costing {
  int times = 0;
  double seconds = HUGE_VAL;  // the least after the first
};

std::map<std::string, Costing>& costings() {
  static std::map<std::string, Costing> records;
  return records;
}

}  // namespace

std::string costing_key(const std::string& spec, const ProblemShape& s, int scalar_bytes) {
  return spec + "|" + std::to_string(s.length) + "|" + std::to_string(s.width) + "|" + std::to_string(s.rank) + "|" +
         std::to_string(s.batch) + "|" + std::to_string(s.adapted[index(Projection::K)]) + "|" +
         std::to_string(scalar_bytes);
}

double costing_seconds(const std::string& key) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  const auto it = costings().find(key);
  return it == costings().end() || it->second.times < 2 ? 0.0 : it->second.seconds;
}

void record_costing(const std::string& key, double seconds) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  Costing& c = costings()[key];
  if (c.times++ > 0) c.seconds = std::min(c.seconds, seconds);
}

std::shared_ptr<const Algorithm> cached_algorithm(const std::string& spec) {
  static std::map<std::string, std::shared_ptr<const Algorithm>> algorithms;
  {
    std::lock_guard<std::mutex> lock(cache_mutex());
    if (const auto it = algorithms.find(spec); it != algorithms.end()) return it->second;
  }
  std::shared_ptr<const Algorithm> a = make_algorithm(spec);  // throws on a bad spec: nothing kept
  std::lock_guard<std::mutex> lock(cache_mutex());
  return algorithms.emplace(spec, std::move(a)).first->second;
}

}  // namespace lorafgc::lora::detail
