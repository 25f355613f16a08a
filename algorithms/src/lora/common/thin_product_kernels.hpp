#pragma once
// The kernels of thin_products.hpp on column-major arrays. Free of Eigen,
// because their source is compiled for every x86 target by Highway with its
// own -march: an Eigen object made there would be aligned (and freed) by
// another rule than the rest of the library's.
#include <cstddef>

namespace lorafgc::lora::detail {

// C = A^T B in double: A is L x m, B L x n, C m x n.
void thin_cross_kernel(const float* A, int m, const float* B, int n, std::ptrdiff_t L, double* C);
void thin_cross_kernel(const double* A, int m, const double* B, int n, std::ptrdiff_t L, double* C);

// C = A W: A is L x k, W k x n, C L x n.
void thin_times_small_kernel(const float* A, int k, const float* W, int n, std::ptrdiff_t L, float* C);
void thin_times_small_kernel(const double* A, int k, const double* W, int n, std::ptrdiff_t L, double* C);

}  // namespace lorafgc::lora::detail
