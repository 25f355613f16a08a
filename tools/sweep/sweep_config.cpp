#include "sweep_config.hpp"

#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/lora/generator.hpp>
#include <lorafgc/lora/registry.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <vector>

namespace lorafgc::sweep {

using lora::make_algorithm;
using json = nlohmann::json;

namespace {

[[noreturn]] void fail(const std::string& key, const std::string& what) {
  throw InvalidArgument("config key '" + key + "'", what);
}

// A value for a message: short, and safe to print (the nesting depth of a
// parsed config is bounded, see parse_config_text).
std::string shown(const json& v) {
  std::string text = v.dump();
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

// Strict types: an integer is a JSON integer (not 64.7, not true, not 1e30), a
// real is a JSON number (not a boolean, not a string), a string is a string.
template <class T>
T value_of(const json& v, const std::string& key) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) fail(key, "expected a string, got " + shown(v));
    return v.get<std::string>();
  } else if constexpr (std::is_same_v<T, double>) {
    if (!v.is_number()) fail(key, "expected a number, got " + shown(v));
    const double x = v.get<double>();
    if (!std::isfinite(x)) fail(key, "expected a finite number, got " + shown(v));
    return x;
  } else {
    if (!v.is_number_integer()) fail(key, "expected an integer, got " + shown(v));
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<long long>::max()))
      fail(key, "is out of range: " + shown(v));
    return v.get<long long>();
  }
}

template <class T>
std::vector<T> list_of(const json& j, const std::string& key, bool required, const std::vector<T>& fallback) {
  if (!j.contains(key)) {
    if (required) fail(key, "is required");
    return fallback;
  }
  const json& v = j.at(key);
  std::vector<T> out;
  if (v.is_array())
    for (const auto& x : v) out.push_back(value_of<T>(x, key));
  else
    out.push_back(value_of<T>(v, key));
  if (out.empty()) fail(key, "is an empty list");
  if (std::set<T>(out.begin(), out.end()).size() != out.size()) fail(key, "lists a value twice");
  return out;
}

template <class T>
T scalar_of(const json& j, const std::string& key, T fallback) {
  return j.contains(key) ? value_of<T>(j.at(key), key) : fallback;
}

// Counts within the limit table, the name in the message being the config key.
void require_counts(const std::vector<long long>& values, const std::string& key, Quantity q) {
  for (long long v : values) require_count("config key '" + key + "'", v, q);
}

long long count_of(const json& j, const std::string& key, long long fallback, Quantity q) {
  const long long v = scalar_of<long long>(j, key, fallback);
  require_count("config key '" + key + "'", v, q);
  return v;
}

// "family": "llm", or {"name": "llm", "outlier_channels": 4, ...}: the family
// and its parameters, each checked by name; the generator checks the ranges.
void parse_family(const json& j, SweepConfig& c) {
  if (!j.contains("family")) return;
  const json& f = j.at("family");
  auto& g = c.instances;
  if (f.is_string()) {
    try {
      g.family = lora::parse_family(f.get<std::string>());
    } catch (const InvalidArgument& e) {
      fail("family", e.what());
    }
    return;
  }
  if (!f.is_object()) fail("family", "expected a family name or an object with \"name\", got " + shown(f));
  static const std::set<std::string> known = {"name",          "key_share",      "outlier_channels",
                                              "outlier_scale", "spectrum_decay", "adversarial_noise"};
  for (const auto& [key, value] : f.items())
    if (!known.count(key)) fail("family." + key, "is not a known key (known: name, key_share, outlier_channels, "
                                              "outlier_scale, spectrum_decay, adversarial_noise)");
  if (!f.contains("name")) fail("family.name", "is required");
  try {
    g.family = lora::parse_family(value_of<std::string>(f.at("name"), "family.name"));
  } catch (const InvalidArgument& e) {
    fail("family.name", e.what());
  }
  auto read = [&](const std::string& key, auto& into) {
    if (f.contains(key)) into = value_of<std::decay_t<decltype(into)>>(f.at(key), "family." + key);
  };
  read("key_share", g.llm.key_share);
  read("outlier_channels", g.llm.outlier_channels);
  read("outlier_scale", g.llm.outlier_scale);
  read("spectrum_decay", g.llm.spectrum_decay);
  read("adversarial_noise", g.adversarial_noise);
}

// The largest instance the sweep generates must fit the memory budget, and
// every norm must be representable in every dtype: checked here, before a
// point runs, with the generator's own checks.
void check_instances(const SweepConfig& c) {
  lora::GeneratorConfig g = c.instances;
  try {  // the family's parameters against the narrowest head (outlier_channels <= d)
    g.width = *std::min_element(c.widths.begin(), c.widths.end());
    g.validate();
  } catch (const InvalidArgument& e) {
    static const std::set<std::string> family_keys = {"key_share", "outlier_channels", "outlier_scale",
                                                      "spectrum_decay", "adversarial_noise"};
    if (family_keys.count(e.argument())) fail("family." + e.argument(), e.what());
    throw;
  }
  g.length = *std::max_element(c.lengths.begin(), c.lengths.end());
  g.width = *std::max_element(c.widths.begin(), c.widths.end());
  g.rank = *std::max_element(c.ranks.begin(), c.ranks.end());
  g.batch = c.batch;
  try {
    g.validate();
    for (double norm : c.norms) {
      (c.norm_axis == "gamma" ? g.gamma : g.score_bound) = norm;
      for (const auto& dtype : c.dtypes)
        dtype == "float32" ? lora::validate_representable<float>(g) : lora::validate_representable<double>(g);
    }
  } catch (const InvalidArgument& e) {
    const std::string arg = e.argument();
    fail(arg == "gamma" || arg == "score_bound" ? c.norm_axis : arg, e.what());
  }
}

}  // namespace

SweepConfig parse_sweep_config(const json& j) {
  if (!j.is_object()) throw InvalidArgument("config", "must be a JSON object");
  static const std::set<std::string> known = {
      "name", "algorithms", "reference", "max_reference_L", "modes", "L", "d", "r", "gamma", "T", "dtype",
      "batch", "repetitions", "min_time_s", "time_limit_s", "threads", "seed", "target_error", "comment", "family"};
  for (const auto& [key, value] : j.items())
    if (!known.count(key)) fail(key, "is not a known key");
  SweepConfig c;
  c.source = j;
  c.name = scalar_of<std::string>(j, "name", c.name);
  scalar_of<std::string>(j, "comment", "");
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
  if (c.max_reference_length < 0) fail("max_reference_L", "must be >= 0");
  c.modes = list_of<std::string>(j, "modes", false, c.modes);
  for (const auto& m : c.modes)
    if (m != "partial" && m != "full") fail("modes", "expected 'partial' or 'full', got '" + m + "'");
  c.lengths = list_of<long long>(j, "L", true, {});
  c.widths = list_of<long long>(j, "d", true, {});
  c.ranks = list_of<long long>(j, "r", false, c.ranks);
  require_counts(c.lengths, "L", Quantity::length);
  require_counts(c.widths, "d", Quantity::width);
  require_counts(c.ranks, "r", Quantity::rank);
  if (j.contains("gamma") == j.contains("T"))
    fail(j.contains("gamma") ? "T" : "gamma", "give exactly one of 'gamma' and 'T' (the norm axis)");
  c.norm_axis = j.contains("gamma") ? "gamma" : "T";
  c.norms = list_of<double>(j, c.norm_axis, true, {});
  for (double v : c.norms)
    if (!(v > 0)) fail(c.norm_axis, "values must be positive and finite");
  c.dtypes = list_of<std::string>(j, "dtype", false, c.dtypes);
  for (const auto& t : c.dtypes)
    if (t != "float32" && t != "float64") fail("dtype", "expected 'float32' or 'float64', got '" + t + "'");
  c.batch = count_of(j, "batch", c.batch, Quantity::batch);
  c.repetitions = static_cast<int>(count_of(j, "repetitions", c.repetitions, Quantity::repetitions));
  c.time_limit_s = scalar_of<double>(j, "time_limit_s", c.time_limit_s);
  c.min_time_s = scalar_of<double>(j, "min_time_s", c.min_time_s);
  c.threads = static_cast<int>(count_of(j, "threads", c.threads, Quantity::threads));
  const long long seed = scalar_of<long long>(j, "seed", static_cast<long long>(c.seed));
  if (seed < 0) fail("seed", "must be >= 0, got " + std::to_string(seed));
  c.seed = static_cast<std::uint64_t>(seed);
  c.target_error = scalar_of<double>(j, "target_error", c.target_error);
  parse_family(j, c);
  if (!(c.time_limit_s > 0)) fail("time_limit_s", "must be positive");
  if (!(c.min_time_s >= 0 && c.min_time_s <= 60)) fail("min_time_s", "must be between 0 and 60 seconds");
  if (!(c.target_error > 0)) fail("target_error", "must be positive");
  check_instances(c);
  return c;
}

json parse_config_text(const std::string& text, const std::string& where) {
  // Depth and duplicate keys are checked while parsing, so that a hostile file
  // never becomes a deep tree (whose printing or destruction would recurse)
  // and a repeated key is not silently overwritten.
  constexpr int kMaxDepth = 32;
  std::vector<std::set<std::string>> keys;
  std::string last_key = "?";
  const json::parser_callback_t check = [&](int depth, json::parse_event_t event, json& parsed) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxDepth)
      fail(last_key, "nests deeper than " + std::to_string(kMaxDepth) + " levels (in " + where + ")");
    if (event == json::parse_event_t::object_start) keys.emplace_back();
    if (event == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
    if (event == json::parse_event_t::key) {
      last_key = parsed.get<std::string>();
      if (!keys.empty() && !keys.back().insert(last_key).second) fail(last_key, "appears twice in " + where);
    }
    return true;
  };
  try {
    return json::parse(text, check, true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    throw InvalidArgument("config", where + " is not valid JSON: " + e.what());
  } catch (const json::exception& e) {  // e.g. a number out of the range of double
    fail(last_key, where + ": " + e.what());
  }
}

SweepConfig load_sweep_config(const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode))
    throw InvalidArgument("config", "'" + path + "' is not a readable file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidArgument("config", "cannot read '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_sweep_config(parse_config_text(text.str(), "'" + path + "'"));
}

std::size_t SweepConfig::point_count() const {
  return algorithms.size() * modes.size() * lengths.size() * widths.size() * ranks.size() * norms.size() *
         dtypes.size();
}

std::string SweepConfig::hash() const {
  json identity = source;
  identity.erase("comment");  // prose does not change what is measured
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : identity.dump()) h = (h ^ ch) * 1099511628211ULL;  // dump() sorts keys
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

}  // namespace lorafgc::sweep
