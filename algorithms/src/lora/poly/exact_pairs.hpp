#pragma once
// Internal to the polynomial method's sweeps: the score pairs poly-hybrid takes
// exactly (docs/lora-gradients.md, "The hybrid method"). With O_q the outlier
// queries and O_k the outlier keys, the approximate exp matrix is
//   E~ = U_b W_b^T + S,
// U_b, W_b the features with the rows of O_q, O_k set to zero, and S the exact
// exp(S'_ij) on the rows O_q and the columns O_k (every pair that touches an
// outlier, each once). Every product the sweeps take with E~ or E~^T then adds
// a term of m = |O_q| rows or |O_k| columns: O(L m (d + widths)).
//
// Scale: row i of E~ is multiplied by exp(-shift_i), which softmax and every
// later quantity ignore (D, O, R, delta, dS are invariant to a per-row factor).
// An outlier query's shift is its largest score, a bulk query's the largest of
// 0 and its scores against O_k: no exact entry exceeds 1, so nothing overflows
// in float, and the polynomial part of a bulk row (at most ~e^T_bulk) is scaled
// down with its exact part.
#include "lora/common/thin_factors.hpp"

#include <vector>

namespace lorafgc::lora::detail {

template <class T>
class ExactPairs {
 public:
  // Q_hat, K_hat: the scaled rows of the sequence (S'_ij = scale Q^_i.K^_j);
  // query_rows, key_rows: O_q, O_k (distinct indices). Keeps a copy of K_hat and
  // sets its O_k rows to zero, so that the sweeps' features of those keys stay
  // finite (the polynomial's range does not cover them) while their products
  // are removed or replaced below.
  ExactPairs(const Matrix<T>& Q_hat, Matrix<T>& K_hat, double scale, const std::vector<Index>& query_rows,
             const std::vector<Index>& key_rows);

  Index query_count() const { return queries_.rows(); }
  Index key_count() const { return keys_.rows(); }

  // Sweep A, keys [j0, j0 + n), Z the block's rows of the right-hand side of
  // W^T: adds the outlier queries' exact rows (out_query_products += E[O_q,
  // block] Z), keeps O_k's rows of Z (out_key_rows) and zeroes them in Z, so
  // that W^T Z leaves those keys out.
  void key_sums_block(Index j0, Index n, Matrix<T>& Z, Matrix<T>& out_query_products, Matrix<T>& out_key_rows) const;
  // Sweep B, queries [i0, i0 + n): E_t = E[block, O_k]^T (|O_k| x n) and the
  // factor of each query's polynomial part: exp(-shift_i), 0 for O_q.
  void query_block(Index i0, Index n, Matrix<T>& E_t, Vector<T>& row_scale) const;
  // Sweep B, wide = U A: scaled per row, plus E[block, O_k] Z[O_k]; an outlier
  // query's row is its exact E[i, :] Z (from sweep A).
  void add_query_products(Index i0, Index n, const Matrix<T>& E_t, const Vector<T>& row_scale,
                          const Matrix<T>& key_rows, const Matrix<T>& query_products, Eigen::Ref<Matrix<T>> wide) const;
  // Sweep B, Z' the block's rows of the right-hand side of U^T, before U^T Z' is
  // taken: the O_k columns' sums (out_key_products += E[block, O_k]^T Z'), O_q's
  // rows of Z' (out_query_rows), then Z' scaled per row (0 for O_q).
  void query_sums_block(Index i0, Index n, const Matrix<T>& E_t, const Vector<T>& row_scale, Matrix<T>& Z_prime,
                        Matrix<T>& out_key_products, Matrix<T>& out_query_rows) const;
  // Sweep C, wide = W B: plus E[O_q, block]^T Z'[O_q]; O_k's rows are their
  // whole exact columns E[:, j]^T Z' (from sweep B).
  void add_key_products(Index j0, Index n, const Matrix<T>& query_rows, const Matrix<T>& key_products,
                        Eigen::Ref<Matrix<T>> wide) const;

 private:
  // exp(scale A B^T - shift), shift per row of A (A is O_q's or O_k's rows).
  void exact_block(const Matrix<T>& A, const Eigen::Ref<const Matrix<T>>& B, const Vector<T>& shift,
                   Matrix<T>& out) const;

  Matrix<T> K_hat_;                  // every key, O_k's included
  const Matrix<T>& Q_hat_;
  T scale_;
  Matrix<T> queries_, keys_;         // rows of Q^ in O_q, of K^ in O_k
  Vector<T> query_shift_;            // max_j S'_ij for i in O_q
  std::vector<Index> query_slot_, key_slot_;  // position in O_q / O_k, or -1
};

}  // namespace lorafgc::lora::detail
