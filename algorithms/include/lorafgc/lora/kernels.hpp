#pragma once
// The SIMD target the runtime-dispatched kernels run on here (exact's fused
// schedule): "AVX3" (AVX-512), "AVX2", "SSE4", ... Recorded beside every
// measurement, since it can differ from what the compiler targeted.
#include <string>

namespace lorafgc::lora {

std::string kernel_target();

}  // namespace lorafgc::lora
