#pragma once
// The Cauchy-Schwarz score range: |S_ij| = |beta Q_i . K_j| <= T with
// T = |beta| max_i ||Q_i|| max_j ||K_j|| over the batch, in O(L d^2) for the
// projections (docs/lora-gradients.md, "Score bound").
#include <lorafgc/core/types.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace lorafgc::lora::detail {

struct CauchySchwarzRange {
  double max_query_norm = 0;  // rho_q = max_i ||Q_i||
  double max_key_norm = 0;    // rho_k = max_j ||K_j||
  double bound(double beta) const { return std::abs(beta) * max_query_norm * max_key_norm; }
};

template <class T>
double max_row_norm(const Matrix<T>& M) {
  return M.rows() ? static_cast<double>(M.rowwise().norm().maxCoeff()) : 0.0;
}

// Over every sequence X_b of the batch, with Q = X W_q and K = X W_k.
template <class T>
CauchySchwarzRange score_range(const std::vector<Matrix<T>>& X, const Matrix<T>& Wq, const Matrix<T>& Wk) {
  CauchySchwarzRange range;
  for (const auto& x : X) {
    range.max_query_norm = std::max(range.max_query_norm, max_row_norm(Matrix<T>(x * Wq)));
    range.max_key_norm = std::max(range.max_key_norm, max_row_norm(Matrix<T>(x * Wk)));
  }
  return range;
}

}  // namespace lorafgc::lora::detail
