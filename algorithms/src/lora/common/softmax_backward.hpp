#pragma once
// The softmax-backward step every exact schedule shares (docs/lora-gradients.md,
// "Backward"): delta_i = <R_i, O_i> and dS = F o (R V^T - delta 1^T).
#include <lorafgc/core/types.hpp>

namespace lorafgc::lora::detail {

// delta_i = <R_i, O_i> = sum_j F_ij (R V^T)_ij: the row correction of dS, O(L d).
template <class DerivedR, class DerivedO>
auto row_dot(const Eigen::MatrixBase<DerivedR>& R, const Eigen::MatrixBase<DerivedO>& O) {
  return (R.array() * O.array()).rowwise().sum();
}

// On entry G holds R V^T for a block of rows (and columns); on exit dS for it.
// E holds the unnormalised exponentials exp(S - m) of the block and inv_sum the
// rows' 1 / sum_j exp(S_ij - m_i), so F = diag(inv_sum) E is never formed.
template <class T>
void softmax_backward(const Matrix<T>& E, const Vector<T>& inv_sum, const Vector<T>& delta, Matrix<T>& G) {
  G = ((E.array() * (G.array().colwise() - delta.array())).colwise() * inv_sum.array()).matrix();
}

}  // namespace lorafgc::lora::detail
