#include "lora/poly/exact_pairs.hpp"

#include "lora/common/blas_gemm.hpp"
#include "lora/common/exp_kernel.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lorafgc::lora::detail {

namespace {

template <class T>
Matrix<T> gather_rows(const Matrix<T>& M, const std::vector<Index>& rows) {
  Matrix<T> out(static_cast<Index>(rows.size()), M.cols());
  for (std::size_t s = 0; s < rows.size(); ++s) out.row(static_cast<Index>(s)) = M.row(rows[s]);
  return out;
}

std::vector<Index> slots(Index length, const std::vector<Index>& rows) {
  std::vector<Index> slot(static_cast<std::size_t>(length), -1);
  for (std::size_t s = 0; s < rows.size(); ++s) slot[static_cast<std::size_t>(rows[s])] = static_cast<Index>(s);
  return slot;
}

template <class T>
void exp_in_place(Matrix<T>& M) {
  vector_exp(M.data(), M.data(), static_cast<std::size_t>(M.size()));
}

}  // namespace

template <class T>
ExactPairs<T>::ExactPairs(const Matrix<T>& Q_hat, Matrix<T>& K_hat, double scale, const std::vector<Index>& query_rows,
                          const std::vector<Index>& key_rows)
    : K_hat_(K_hat),
      Q_hat_(Q_hat),
      scale_(static_cast<T>(scale)),
      queries_(gather_rows(Q_hat, query_rows)),
      keys_(gather_rows(K_hat, key_rows)),
      query_shift_(Vector<T>::Constant(queries_.rows(), -std::numeric_limits<T>::infinity())),
      query_slot_(slots(Q_hat.rows(), query_rows)),
      key_slot_(slots(K_hat.rows(), key_rows)) {
  for (Index j : key_rows) K_hat.row(j).setZero();
  // The outlier queries' row maxima over every key, in chunks (no m x L block held).
  constexpr Index chunk = 4096;
  Matrix<T> S;
  for (Index j0 = 0; j0 < K_hat_.rows() && queries_.rows(); j0 += chunk) {
    const Index n = std::min(chunk, K_hat_.rows() - j0);
    S.resize(queries_.rows(), n);
    gemm_nt<T>(scale_, queries_, K_hat_.middleRows(j0, n), T(0), S);
    query_shift_ = query_shift_.cwiseMax(S.rowwise().maxCoeff());
  }
}

template <class T>
void ExactPairs<T>::exact_block(const Matrix<T>& A, const Eigen::Ref<const Matrix<T>>& B, const Vector<T>& shift,
                                Matrix<T>& out) const {
  out.resize(A.rows(), B.rows());
  gemm_nt<T>(scale_, A, B, T(0), out);
  out.colwise() -= shift;
  exp_in_place(out);
}

template <class T>
void ExactPairs<T>::key_sums_block(Index j0, Index n, Matrix<T>& Z, Matrix<T>& out_query_products,
                                   Matrix<T>& out_key_rows) const {
  if (queries_.rows()) {
    Matrix<T> E;
    exact_block(queries_, K_hat_.middleRows(j0, n), query_shift_, E);
    out_query_products.noalias() += E * Z;
  }
  for (Index j = 0; j < n; ++j)
    if (const Index s = key_slot_[static_cast<std::size_t>(j0 + j)]; s >= 0) {
      out_key_rows.row(s) = Z.row(j);
      Z.row(j).setZero();
    }
}

template <class T>
void ExactPairs<T>::query_block(Index i0, Index n, Matrix<T>& E_t, Vector<T>& row_scale) const {
  // Scores of the outlier keys against the block's queries: one column per query.
  E_t.resize(keys_.rows(), n);
  if (keys_.rows()) gemm_nt<T>(scale_, keys_, Q_hat_.middleRows(i0, n), T(0), E_t);
  row_scale.resize(n);
  for (Index i = 0; i < n; ++i) {
    const Index s = query_slot_[static_cast<std::size_t>(i0 + i)];
    const T shift = s >= 0 ? query_shift_(s) : keys_.rows() ? std::max(T(0), E_t.col(i).maxCoeff()) : T(0);
    row_scale(i) = s >= 0 ? T(0) : std::exp(-shift);
    if (keys_.rows()) E_t.col(i).array() -= shift;
  }
  if (keys_.rows()) exp_in_place(E_t);
}

template <class T>
void ExactPairs<T>::add_query_products(Index i0, Index n, const Matrix<T>& E_t, const Vector<T>& row_scale,
                                       const Matrix<T>& key_rows, const Matrix<T>& query_products,
                                       Eigen::Ref<Matrix<T>> wide) const {
  wide = row_scale.asDiagonal() * wide;
  if (keys_.rows()) wide.noalias() += E_t.transpose() * key_rows;
  // An outlier query's row: all of it exact, O_k's columns included (sweep A went over every key).
  for (Index i = 0; i < n; ++i)
    if (const Index s = query_slot_[static_cast<std::size_t>(i0 + i)]; s >= 0) wide.row(i) = query_products.row(s);
}

template <class T>
void ExactPairs<T>::query_sums_block(Index i0, Index n, const Matrix<T>& E_t, const Vector<T>& row_scale,
                                     Matrix<T>& Z_prime, Matrix<T>& out_key_products,
                                     Matrix<T>& out_query_rows) const {
  if (keys_.rows()) out_key_products.noalias() += E_t * Z_prime;
  for (Index i = 0; i < n; ++i)
    if (const Index s = query_slot_[static_cast<std::size_t>(i0 + i)]; s >= 0) out_query_rows.row(s) = Z_prime.row(i);
  Z_prime = row_scale.asDiagonal() * Z_prime;
}

template <class T>
void ExactPairs<T>::add_key_products(Index j0, Index n, const Matrix<T>& query_rows, const Matrix<T>& key_products,
                                     Eigen::Ref<Matrix<T>> wide) const {
  if (queries_.rows()) {
    Matrix<T> E;
    exact_block(queries_, K_hat_.middleRows(j0, n), query_shift_, E);
    wide.noalias() += E.transpose() * query_rows;
  }
  for (Index j = 0; j < n; ++j)
    if (const Index s = key_slot_[static_cast<std::size_t>(j0 + j)]; s >= 0) wide.row(j) = key_products.row(s);
}

template class ExactPairs<float>;
template class ExactPairs<double>;

}  // namespace lorafgc::lora::detail
