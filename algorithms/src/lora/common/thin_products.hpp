#pragma once
// Products of tall and thin matrices over a sequence (L x d, d small) that
// the plan forms on every call: A^T B (the d x d products beta_sensitivity.cpp
// needs) and A W (the queries and keys of certified_range.hpp). OpenBLAS is
// far from the machine's rate on these shapes (its OpenMP threads spin longer
// than the work takes); the kernels (thin_product_kernels.cpp) run on one
// thread, a 4-column register tile per vector of rows. On Zen 5 (AVX-512,
// d = 16, L = 2048): A^T B 40 us through BLAS, 11 us here (Eigen's lazy
// product 41; d = 4: 4.4 / 0.7 / 2.7 us); A W 18 us through BLAS, 8 here
// (lazy 53). The plan at that shape: 270 us before, 78 after. Beyond 32
// columns, and for A W beyond 2^20 entries of A, BLAS on every thread is
// faster (L = 65536, d = 32: A W 1.7 ms through BLAS, 2.1 here; d = 64: A^T A
// 5.9 / 11 ms), and it takes over.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/types.hpp>

#include "lora/common/thin_product_kernels.hpp"

#include <string>

namespace lorafgc::lora::detail {

// A^T B: the lanes and their sum in T, the ragged tail and the result in double.
template <class T>
Matrix<double> thin_cross_product(const Matrix<T>& A, const Matrix<T>& B) {
  if (A.rows() != B.rows())
    throw InvalidArgument("B", "has " + std::to_string(B.rows()) + " rows, A " + std::to_string(A.rows()));
  if (A.cols() > 32 || B.cols() > 32) return (A.transpose() * B).template cast<double>();
  Matrix<double> C = Matrix<double>::Zero(A.cols(), B.cols());
  if (C.size() && A.rows())
    thin_cross_kernel(A.data(), static_cast<int>(A.cols()), B.data(), static_cast<int>(B.cols()), A.rows(), C.data());
  return C;
}

// A W for a small W (d x d), accumulated in T.
template <class T>
Matrix<T> thin_times_small(const Matrix<T>& A, const Matrix<T>& W) {
  if (A.cols() != W.rows())
    throw InvalidArgument("W", "has " + std::to_string(W.rows()) + " rows, A " + std::to_string(A.cols()) + " columns");
  if (W.cols() > 32 || A.size() > (1 << 20)) return A * W;
  Matrix<T> C(A.rows(), W.cols());
  if (!C.size()) return C;
  if (!W.rows()) return C.setZero();
  thin_times_small_kernel(A.data(), static_cast<int>(A.cols()), W.data(), static_cast<int>(W.cols()), A.rows(),
                          C.data());
  return C;
}

}  // namespace lorafgc::lora::detail
