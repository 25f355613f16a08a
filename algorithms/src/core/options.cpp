#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/options.hpp>

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace lorafgc {

namespace {
std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}
}  // namespace

double Options::get_double(const std::string& key, double fallback) const {
  used_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
    throw InvalidArgument("option '" + key + "'", "expected a finite number, got '" + it->second + "'");
  return v;
}

long long Options::get_int(const std::string& key, long long fallback) const {
  used_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || errno == ERANGE)
    throw InvalidArgument("option '" + key + "'", "expected an integer, got '" + it->second + "'");
  return v;
}

bool Options::get_bool(const std::string& key, bool fallback) const {
  used_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string& v = it->second;
  if (v == "1" || v == "true" || v == "True" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "False" || v == "no" || v == "off") return false;
  throw InvalidArgument("option '" + key + "'", "expected true or false, got '" + v + "'");
}

std::string Options::get_string(const std::string& key, const std::string& fallback) const {
  used_.insert(key);
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

void Options::reject_unused(const std::string& algorithm) const {
  for (const auto& [k, v] : values_)
    if (!used_.count(k))
      throw InvalidArgument("option '" + k + "'", "unknown option for algorithm '" + algorithm + "'");
}

AlgorithmSpec parse_algorithm_spec(const std::string& spec) {
  AlgorithmSpec out;
  const auto colon = spec.find(':');
  out.name = trim(spec.substr(0, colon));
  if (out.name.empty()) throw InvalidArgument("algorithm", "empty algorithm name in '" + spec + "'");
  if (colon == std::string::npos) return out;
  std::string rest = spec.substr(colon + 1);
  std::size_t start = 0;
  while (start <= rest.size()) {
    const auto comma = rest.find(',', start);
    const std::string item = trim(rest.substr(start, comma - start));
    if (!item.empty()) {
      const auto eq = item.find('=');
      if (eq == std::string::npos || trim(item.substr(0, eq)).empty())
        throw InvalidArgument("algorithm", "option '" + item + "' in '" + spec + "' is not key=value");
      out.options.set(trim(item.substr(0, eq)), trim(item.substr(eq + 1)));
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace lorafgc
