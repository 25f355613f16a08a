#pragma once
// Helpers shared by the LoRA tests.
#include "support.hpp"

#include <lorafgc/core/errors.hpp>
#include <lorafgc/lora/error_metrics.hpp>
#include <lorafgc/lora/generator.hpp>
#include <lorafgc/lora/registry.hpp>

#include "lora/exact_reference/exact_reference.hpp"

namespace lorafgc::test {

inline lora::GeneratorConfig config(long long L, long long d, long long r, lora::Adaptation mode, double gamma = 1.0,
                              std::uint64_t seed = 7) {
  lora::GeneratorConfig c;
  c.length = L;
  c.width = d;
  c.rank = r;
  c.adaptation = mode;
  c.gamma = gamma;
  c.seed = seed;
  return c;
}

}  // namespace lorafgc::test
