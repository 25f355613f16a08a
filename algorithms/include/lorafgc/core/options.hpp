#pragma once
// Algorithm options in the factory-string form "name:key=value,key=value"
// (as in Faiss' index_factory). Every getter records the key as used, so a
// factory can reject the keys nobody asked for: a misspelt option is an error,
// never silently ignored.
#include <map>
#include <set>
#include <string>

namespace lorafgc {

class Options {
 public:
  Options() = default;
  explicit Options(std::map<std::string, std::string> values) : values_(std::move(values)) {}

  void set(const std::string& key, const std::string& value) { values_[key] = value; }
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  const std::map<std::string, std::string>& values() const { return values_; }

  double get_double(const std::string& key, double fallback) const;
  long long get_int(const std::string& key, long long fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;

  // Throws InvalidArgument naming the first key no getter asked for.
  void reject_unused(const std::string& algorithm) const;

 private:
  std::map<std::string, std::string> values_;
  mutable std::set<std::string> used_;
};

struct AlgorithmSpec {
  std::string name;
  Options options;
};

// "poly-cheb:eps=1e-3,degree=5" -> {name, options}. Throws InvalidArgument.
AlgorithmSpec parse_algorithm_spec(const std::string& spec);

}  // namespace lorafgc
