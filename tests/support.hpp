#pragma once
// Helpers shared by the C++ tests.
#include <lorafgc/error_metrics.hpp>
#include <lorafgc/errors.hpp>
#include <lorafgc/exact_reference.hpp>
#include <lorafgc/generator.hpp>
#include <lorafgc/registry.hpp>

namespace lorafgc::test {

inline GeneratorConfig config(long long L, long long d, long long r, Adaptation mode, double gamma = 1.0,
                              std::uint64_t seed = 7) {
  GeneratorConfig c;
  c.length = L;
  c.width = d;
  c.rank = r;
  c.adaptation = mode;
  c.gamma = gamma;
  c.seed = seed;
  return c;
}

}  // namespace lorafgc::test
