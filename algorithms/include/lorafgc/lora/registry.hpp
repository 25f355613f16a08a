#pragma once
// The registry of algorithms: one table (registry.cpp) that the C++ API, the
// benchmarks, the tools and the Python module all read.
#include <lorafgc/lora/algorithm.hpp>
#include <lorafgc/core/options.hpp>

#include <functional>
#include <vector>

namespace lorafgc {

struct OptionInfo {
  std::string name;
  std::string default_value;
  std::string description;
};

struct AlgorithmInfo {
  std::string name;
  std::string description;
  bool exact = false;  // computes the gradient exactly (up to rounding)
  std::vector<OptionInfo> options;
  std::function<std::unique_ptr<Algorithm>(const Options&)> make;
};

const std::vector<AlgorithmInfo>& registered_algorithms();
const AlgorithmInfo& algorithm_info(const std::string& name);

// make_algorithm("exact") or make_algorithm("exact:block=32,threads=2").
// Unknown names or options throw InvalidArgument naming them.
std::unique_ptr<Algorithm> make_algorithm(const std::string& spec);
std::unique_ptr<Algorithm> make_algorithm(const std::string& name, const Options& options);

}  // namespace lorafgc
