#pragma once
// The machine rates and algorithm calibrations auto's predictions use,
// measured once per process and key: a calibration takes 0.3-3 s, a plan
// milliseconds.
#include <lorafgc/lora/algorithm.hpp>
#include <lorafgc/lora/cost_model.hpp>

#include <memory>
#include <optional>
#include <string>

namespace lorafgc::lora::detail {

MachineRates cached_rates(int scalar_bytes, int threads);

// spec's calibration for the shape's width, rank and mode; nullopt when
// calibrate_algorithm refuses it (a shape on which it would take long).
std::optional<AlgorithmCalibration> cached_calibration(const std::string& spec, const ProblemShape& shape,
                                                       int scalar_bytes, int threads);

// How long costing spec on an instance of this shape took in this process,
// beyond the work its plan memo shares with the other candidates
// (memo_shared_seconds): the least of its costings after the first, 0 before
// the second. What thrifty planning weighs against what costing could gain.
// Not the last: a costing that certified a polynomial for a new range, or
// filled another of the process's caches, took 0.1-0.7 ms where the others
// take microseconds, and planning then skipped that candidate (so never
// measured it again) where it was the fastest.
std::string costing_key(const std::string& spec, const ProblemShape& shape, int scalar_bytes);
double costing_seconds(const std::string& key);
void record_costing(const std::string& key, double seconds);

// make_algorithm(spec), made once per process: parsing a spec's options took
// 6 us, a tenth of a plan at L = 512 that makes four. An algorithm holds only
// its options, so the one instance serves every thread.
std::shared_ptr<const Algorithm> cached_algorithm(const std::string& spec);

}  // namespace lorafgc::lora::detail
