#include "sweep_config.hpp"

#include <lorafgc/core/errors.hpp>
#include <lorafgc/lora/registry.hpp>

#include <fstream>
#include <set>

namespace lorafgc::sweep {

using lora::make_algorithm;

namespace {

[[noreturn]] void fail(const std::string& key, const std::string& what) {
  throw InvalidArgument("config key '" + key + "'", what);
}

template <class T>
std::vector<T> list_of(const nlohmann::json& j, const std::string& key, bool required,
                       const std::vector<T>& fallback) {
  if (!j.contains(key)) {
    if (required) fail(key, "is required");
    return fallback;
  }
  const auto& v = j.at(key);
  std::vector<T> out;
  try {
    if (v.is_array())
      for (const auto& x : v) out.push_back(x.get<T>());
    else
      out.push_back(v.get<T>());
  } catch (const nlohmann::json::exception&) {
    fail(key, "has an entry of the wrong type: " + v.dump());
  }
  if (out.empty()) fail(key, "is an empty list");
  if (std::set<T>(out.begin(), out.end()).size() != out.size()) fail(key, "lists a value twice");
  return out;
}

template <class T>
T scalar_of(const nlohmann::json& j, const std::string& key, T fallback) {
  if (!j.contains(key)) return fallback;
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail(key, "has the wrong type: " + j.at(key).dump());
  }
}

void require_positive(const std::vector<long long>& v, const std::string& key) {
  for (long long x : v)
    if (x < 1) fail(key, "values must be at least 1, got " + std::to_string(x));
}

}  // namespace

SweepConfig parse_sweep_config(const nlohmann::json& j) {
  if (!j.is_object()) throw InvalidArgument("config", "must be a JSON object");
  static const std::set<std::string> known = {
      "name", "algorithms", "reference", "max_reference_L", "modes", "L", "d", "r", "gamma", "T", "dtype",
      "batch", "repetitions", "time_limit_s", "threads", "seed", "target_error", "comment"};
  for (const auto& [key, value] : j.items())
    if (!known.count(key)) fail(key, "is not a known key");
  SweepConfig c;
  c.source = j;
  c.name = scalar_of<std::string>(j, "name", c.name);
  c.algorithms = list_of<std::string>(j, "algorithms", true, {});
  for (const auto& spec : c.algorithms) {
    try {
      make_algorithm(spec);
    } catch (const InvalidArgument& e) {
      fail("algorithms", e.what());
    }
  }
  c.reference = scalar_of<std::string>(j, "reference", c.reference);
  if (!lora::registration(parse_algorithm_spec(c.reference).name).exact)
    fail("reference", "'" + c.reference + "' is not an exact algorithm");
  make_algorithm(c.reference);
  c.max_reference_length = scalar_of<long long>(j, "max_reference_L", c.max_reference_length);
  c.modes = list_of<std::string>(j, "modes", false, c.modes);
  for (const auto& m : c.modes)
    if (m != "partial" && m != "full") fail("modes", "expected 'partial' or 'full', got '" + m + "'");
  c.lengths = list_of<long long>(j, "L", true, {});
  c.widths = list_of<long long>(j, "d", true, {});
  c.ranks = list_of<long long>(j, "r", false, c.ranks);
  require_positive(c.lengths, "L");
  require_positive(c.widths, "d");
  require_positive(c.ranks, "r");
  if (j.contains("gamma") == j.contains("T"))
    fail(j.contains("gamma") ? "T" : "gamma", "give exactly one of 'gamma' and 'T' (the norm axis)");
  c.norm_axis = j.contains("gamma") ? "gamma" : "T";
  c.norms = list_of<double>(j, c.norm_axis, true, {});
  for (double v : c.norms)
    if (!(v > 0) || !std::isfinite(v)) fail(c.norm_axis, "values must be positive and finite");
  c.dtypes = list_of<std::string>(j, "dtype", false, c.dtypes);
  for (const auto& t : c.dtypes)
    if (t != "float32" && t != "float64") fail("dtype", "expected 'float32' or 'float64', got '" + t + "'");
  c.batch = scalar_of<long long>(j, "batch", c.batch);
  c.repetitions = scalar_of<int>(j, "repetitions", c.repetitions);
  c.time_limit_s = scalar_of<double>(j, "time_limit_s", c.time_limit_s);
  c.threads = scalar_of<int>(j, "threads", c.threads);
  c.seed = scalar_of<std::uint64_t>(j, "seed", c.seed);
  c.target_error = scalar_of<double>(j, "target_error", c.target_error);
  if (c.batch < 1) fail("batch", "must be at least 1");
  if (c.repetitions < 1) fail("repetitions", "must be at least 1");
  if (!(c.time_limit_s > 0)) fail("time_limit_s", "must be positive");
  if (c.threads < 0) fail("threads", "must be 0 (default) or positive");
  if (!(c.target_error > 0)) fail("target_error", "must be positive");
  if (c.max_reference_length < 0) fail("max_reference_L", "must be >= 0");
  return c;
}

SweepConfig load_sweep_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InvalidArgument("config", "cannot read '" + path + "'");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in, nullptr, true, /*ignore_comments=*/true);
  } catch (const nlohmann::json::parse_error& e) {
    throw InvalidArgument("config", "'" + path + "' is not valid JSON: " + e.what());
  }
  return parse_sweep_config(j);
}

std::size_t SweepConfig::point_count() const {
  return algorithms.size() * modes.size() * lengths.size() * widths.size() * ranks.size() * norms.size() *
         dtypes.size();
}

std::string SweepConfig::hash() const {
  nlohmann::json identity = source;
  identity.erase("comment");  // prose does not change what is measured
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : identity.dump()) h = (h ^ ch) * 1099511628211ULL;  // dump() sorts keys
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

}  // namespace lorafgc::sweep
