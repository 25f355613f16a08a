#pragma once
// A sweep's grid, read from JSON. Every key is checked: unknown keys, empty
// lists, contradictory axes (both gamma and T), unknown algorithms, values of
// the wrong type (integers are integers, booleans are not numbers), counts
// outside the limit table (core/limits.hpp), an instance over the memory
// budget and norms the dtype cannot represent are errors naming the key,
// before anything runs.
#include <lorafgc/core/types.hpp>
#include <lorafgc/lora/generator.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace lorafgc::sweep {

struct SweepConfig {
  std::string name = "sweep";
  std::vector<std::string> algorithms;
  std::string reference = "exact";  // error metrics against this, computed in float64
  long long max_reference_length = 16384;
  std::vector<std::string> modes{"partial"};
  std::vector<long long> lengths, widths, ranks{4};
  std::string norm_axis = "gamma";  // "gamma" (max|X W|) or "T" (score bound)
  std::vector<double> norms;
  std::vector<std::string> dtypes{"float32"};
  long long batch = 1;
  int repetitions = 3;
  double min_time_s = 0;            // more repetitions while their total is below this (at most 1000)
  double time_limit_s = 30;
  int threads = 0;
  std::uint64_t seed = 1;
  double target_error = 1e-3;       // read by the report: success threshold on err max_rel
  // The instance family of every point ("family": a name, or an object with
  // "name" and the family's parameters); its parameters are in `instances`.
  lora::GeneratorConfig instances;
  nlohmann::json source;            // the parsed file, for the results header

  std::size_t point_count() const;
  std::string hash() const;         // FNV-1a of the canonical JSON of `source`
};

SweepConfig parse_sweep_config(const nlohmann::json& j);
// JSON text to a tree, refusing (InvalidArgument naming the key where it can)
// nesting deeper than 32 levels, a key twice in one object, and numbers out of
// range; comments are allowed. `where` names the source in messages.
nlohmann::json parse_config_text(const std::string& text, const std::string& where);
SweepConfig load_sweep_config(const std::string& path);

}  // namespace lorafgc::sweep
