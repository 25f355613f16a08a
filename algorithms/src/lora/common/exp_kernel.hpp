#pragma once
// out[i] = exp(x[i]) (out may be x) with Highway's vectorised exp, dispatched at run time to the
// same target as exact's fused kernel: what the calibration times as this
// machine's exp rate (machine_rates.cpp).
#include <cstddef>

namespace lorafgc::lora::detail {

void vector_exp(const float* x, float* out, std::size_t n);
void vector_exp(const double* x, double* out, std::size_t n);

}  // namespace lorafgc::lora::detail
