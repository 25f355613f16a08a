#pragma once
// C = alpha op(A) op(B) + beta C straight through CBLAS, for column-major Eigen
// blocks. Used where Eigen's product would first zero a large destination
// (Eigen evaluates `C.noalias() = A * B` as setZero + gemm with beta = 1).
#include <cblas.h>

#include <lorafgc/core/eigen.hpp>

namespace lorafgc::lora::detail {

template <class T>
using ConstRef = Eigen::Ref<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>, 0, Eigen::OuterStride<>>;
template <class T>
using MutRef = Eigen::Ref<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>, 0, Eigen::OuterStride<>>;

inline void gemm_call(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha,
                      const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasColMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void gemm_call(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, double alpha,
                      const double* a, int lda, const double* b, int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasColMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// C (m x n) = alpha A B^T + beta C, with A m x k and B n x k.
template <class T>
void gemm_nt(T alpha, ConstRef<T> A, ConstRef<T> B, T beta, MutRef<T> C) {
  eigen_assert(A.cols() == B.cols() && C.rows() == A.rows() && C.cols() == B.rows());
  gemm_call(CblasNoTrans, CblasTrans, static_cast<int>(C.rows()), static_cast<int>(C.cols()),
            static_cast<int>(A.cols()), alpha, A.data(), static_cast<int>(A.outerStride()), B.data(),
            static_cast<int>(B.outerStride()), beta, C.data(), static_cast<int>(C.outerStride()));
}

}  // namespace lorafgc::lora::detail
