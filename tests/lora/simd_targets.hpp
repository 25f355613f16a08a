#pragma once
// Running a check on every SIMD target Highway compiled in and this machine
// supports (forced one at a time through the fused kernel's dispatch, which
// every runtime-dispatched kernel of the library shares): the AVX2 path runs
// on an AVX-512 machine too.
#include "lora/exact/fused_kernel.hpp"

#include <catch2/catch.hpp>

#include <cstdint>

namespace lorafgc::test {

struct RestoreTargets {
  ~RestoreTargets() { lora::detail::fused_force_targets(0); }
};

// check() on each target; every target is allowed again afterwards, even on a throw.
// Returns the number of targets run.
template <class Check>
int on_each_target(Check check) {
  const RestoreTargets restore;
  const std::int64_t all = lora::detail::fused_supported_targets();
  int runs = 0;
  for (int bit = 0; bit < 63; ++bit)
    if (all & (std::int64_t{1} << bit)) {
      lora::detail::fused_force_targets(std::int64_t{1} << bit);
      INFO("target " << lora::detail::fused_target_name());
      check();
      ++runs;
    }
  return runs;
}

}  // namespace lorafgc::test
