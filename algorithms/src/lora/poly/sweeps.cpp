#include "lora/poly/sweeps.hpp"

#include "lora/common/softmax_backward.hpp"

#include <omp.h>

#include <algorithm>

namespace lorafgc::lora::detail {

namespace {

// Per-thread storage of a sweep, reused across blocks.
template <class T>
struct Scratch {
  Matrix<T> features;  // b x k: rows of U (sweep B) or W (sweeps A, C)
  Matrix<T> spread;    // b x (sum of widths): the right-hand side of the sweep's one product with U^T or W^T
  Matrix<T> wide;      // b x (sum of widths): U A.WT_all (sweep B) or W B.UT_all (sweep C)
  Matrix<T> F_N_F;     // sweep B: [D | D O | D F X B_v], then divided by D
  Matrix<T> R;         // b x d
  Matrix<T> block;     // b x m: dS N_dS (sweep B) or dS^T N_dST (sweep C) for these rows
  Vector<T> inv_D, delta;
  Matrix<T> exact;     // sweep B with exact pairs: E[block, O_k]^T
  Vector<T> row_scale; // and the factor of each query's polynomial part
};

// Runs body(i0, n, scratch, local) over row blocks on in.threads threads, each
// with its own sums made by make(), reduced into the returned one.
template <class Sums, class T, class Make, class Body>
Sums sweep(const SequenceInputs<T>& in, Make make, Body body) {
  const Index L = in.X.rows();
  Sums total = make();
  const Index blocks = (L + in.rows - 1) / in.rows;
  // No idle threads spinning at the barrier when there are fewer blocks.
  const int threads = static_cast<int>(std::min<Index>(in.threads, blocks));
#pragma omp parallel num_threads(threads)
  {
    Sums local = make();
    Scratch<T> scratch;
#pragma omp for schedule(dynamic, 1)
    for (Index b = 0; b < blocks; ++b) body(b * in.rows, std::min(in.rows, L - b * in.rows), scratch, local);
#pragma omp critical(lorafgc_poly_reduce)
    total.add(local);
  }
  return total;
}

// out (n x d m): column block c is diag(A_c) N.
template <class T, class Out>
void spread(const Eigen::Ref<const Matrix<T>>& A, const Eigen::Ref<const Matrix<T>>& N, Out&& out) {
  const Index d = A.cols(), m = N.cols();
  for (Index c = 0; c < d; ++c) out.middleCols(c * m, m) = A.col(c).asDiagonal() * N;
}

// out (n x m) = sum_c diag(A_c) Z_c, Z_c the c-th column block of Z (n x d m).
template <class T>
void contract_spread(const Eigen::Ref<const Matrix<T>>& Z, const Eigen::Ref<const Matrix<T>>& A, Matrix<T>& out) {
  const Index d = A.cols(), m = Z.cols() / d;
  out.noalias() = A.col(0).asDiagonal() * Z.leftCols(m);
  for (Index c = 1; c < d; ++c) out.noalias() += A.col(c).asDiagonal() * Z.middleCols(c * m, m);
}

// Per-row terms of the a-priori bound (error_bound.hpp) from the approximate
// residual, inflated to cover the true one: ||R_i|| + eta nu,
// |delta_i| + eta nu (nu + ||R_i||), |R_ic| + eta nu.
template <class T>
void accumulate_bound_sums(const Eigen::Ref<const Matrix<T>>& X, const Eigen::Ref<const Matrix<T>>& Q,
                           const Matrix<T>& R, const Vector<T>& delta, double nu, double eta, QuerySums<T>& acc) {
  const Eigen::ArrayXd r = R.template cast<double>().rowwise().norm().array() + eta * nu;
  const Eigen::ArrayXd dl = delta.template cast<double>().array().abs() + eta * nu * (nu + r);
  const Eigen::VectorXd z = (2 * nu * r + dl + 2 * nu * nu).matrix();
  acc.Xz.noalias() += X.template cast<double>().cwiseAbs().transpose() * z;
  acc.Qz.noalias() += Q.template cast<double>().cwiseAbs().transpose() * z;
  acc.Rs += ((R.template cast<double>().array().abs() + eta * nu + nu).colwise().sum()).matrix().transpose();
}

// Sweep B, rows [i0, i0 + n): s.wide = U A.WT_all, then O, R, the loss and the
// value side.
template <class T>
void query_value_side(const SequenceInputs<T>& in, const KeySums<T>& A, Index i0, Index n, Scratch<T>& s,
                      QuerySums<T>& acc) {
  const ThinWidths& w = in.f.widths;
  s.wide.noalias() = s.features * A.WT_all;
  if (in.exact) {
    in.exact->query_block(i0, n, s.exact, s.row_scale);
    in.exact->add_query_products(i0, n, s.exact, s.row_scale, A.exact_key_rows, A.exact_query_products, s.wide);
  }
  s.F_N_F = s.wide.leftCols(A.n_F1);  // [D | D O | D F X B_v]
  if (!(s.F_N_F.col(0).minCoeff() > 0)) acc.bad_normaliser = true;
  s.inv_D = s.F_N_F.col(0).cwiseInverse();
  s.F_N_F = s.inv_D.asDiagonal() * s.F_N_F;
  s.R = s.F_N_F.middleCols(1, w.d) - in.Y.middleRows(i0, n);
  acc.loss += 0.5 * static_cast<double>(s.R.squaredNorm());
  if (w.X_Bv) acc.BvT_XT_FT_R.noalias() += s.F_N_F.rightCols(w.X_Bv).transpose() * s.R;
  s.delta = row_dot(s.R, s.F_N_F.middleCols(1, w.d));
  accumulate_bound_sums<T>(in.X.middleRows(i0, n), in.f.Q.middleRows(i0, n), s.R, s.delta, in.nu, in.eta, acc);
}

// Sweep B, rows [i0, i0 + n): dS N_dS for these rows, then the query sums
// U^T [D^-1 R A_v^T | (diag(R_c / D) N_dST)_c | diag(delta / D) N_dST] in one product.
template <class T>
void query_score_side(const SequenceInputs<T>& in, const KeySums<T>& A, Index i0, Index n, Scratch<T>& s,
                      QuerySums<T>& acc) {
  const ThinWidths& w = in.f.widths;
  if (w.N_dS()) {
    contract_spread<T>(s.wide.rightCols(A.n_V_dS), s.R, s.block);
    s.block.noalias() -= s.delta.asDiagonal() * s.wide.middleCols(A.n_F1, A.n_dS);
    s.block = s.inv_D.asDiagonal() * s.block;  // dS N_dS for these rows
    if (w.K_Aq) acc.XT_dS_KAq.noalias() += in.X.middleRows(i0, n).transpose() * s.block.leftCols(w.K_Aq);
    if (w.X_Bk) acc.BkT_XT_dST_Q.noalias() += s.block.rightCols(w.X_Bk).transpose() * in.f.Q.middleRows(i0, n);
  }
  if (!acc.UT_all.cols()) return;
  s.spread.resize(n, acc.UT_all.cols());
  if (w.AvT) s.spread.leftCols(w.AvT).noalias() = s.inv_D.asDiagonal() * (s.R * in.f.AvT);
  if (w.N_dST()) {
    const Matrix<T> Dinv_R = s.inv_D.asDiagonal() * s.R;
    spread<T>(Dinv_R, in.f.N_dST.middleRows(i0, n), s.spread.middleCols(acc.n_AvT, acc.n_R_dST));
    s.spread.rightCols(acc.n_dST).noalias() =
        s.delta.cwiseProduct(s.inv_D).asDiagonal() * in.f.N_dST.middleRows(i0, n);
  }
  if (in.exact)
    in.exact->query_sums_block(i0, n, s.exact, s.row_scale, s.spread, acc.exact_key_products, acc.exact_query_rows);
  acc.UT_all.noalias() += s.features.transpose() * s.spread;
}

template <class T>
Index outlier_queries(const SequenceInputs<T>& in) {
  return in.exact ? in.exact->query_count() : 0;
}

template <class T>
Index outlier_keys(const SequenceInputs<T>& in) {
  return in.exact ? in.exact->key_count() : 0;
}

}  // namespace

template <class T>
KeySums<T>::KeySums(Index k, const ThinWidths& w, Index outlier_queries, Index outlier_keys)
    : n_F1(1 + w.d + w.X_Bv), n_dS(w.N_dS()), n_V_dS(w.d * w.N_dS()) {
  WT_all = Matrix<T>::Zero(k, n_F1 + n_dS + n_V_dS);
  exact_query_products = Matrix<T>::Zero(outlier_queries, WT_all.cols());
  exact_key_rows = Matrix<T>::Zero(outlier_keys, WT_all.cols());
}

template <class T>
void KeySums<T>::add(const KeySums& o) {
  WT_all += o.WT_all;
  exact_query_products += o.exact_query_products;
  exact_key_rows += o.exact_key_rows;  // each row set by the one block that holds the key
}

template <class T>
QuerySums<T>::QuerySums(Index k, const ThinWidths& w, Index outlier_queries, Index outlier_keys)
    : Xz(Eigen::VectorXd::Zero(w.d)),
      Qz(Eigen::VectorXd::Zero(w.d)),
      Rs(Eigen::VectorXd::Zero(w.d)),
      XT_dS_KAq(Matrix<T>::Zero(w.d, w.K_Aq)),
      BkT_XT_dST_Q(Matrix<T>::Zero(w.X_Bk, w.d)),
      BvT_XT_FT_R(Matrix<T>::Zero(w.X_Bv, w.d)),
      n_AvT(w.AvT),
      n_R_dST(w.d * w.N_dST()),
      n_dST(w.N_dST()) {
  UT_all = Matrix<T>::Zero(k, n_AvT + n_R_dST + n_dST);
  exact_key_products = Matrix<T>::Zero(outlier_keys, UT_all.cols());
  exact_query_rows = Matrix<T>::Zero(outlier_queries, UT_all.cols());
}

template <class T>
void QuerySums<T>::add(const QuerySums& o) {
  loss += o.loss;
  Xz += o.Xz;
  Qz += o.Qz;
  Rs += o.Rs;
  bad_normaliser = bad_normaliser || o.bad_normaliser;
  XT_dS_KAq += o.XT_dS_KAq;
  BkT_XT_dST_Q += o.BkT_XT_dST_Q;
  BvT_XT_FT_R += o.BvT_XT_FT_R;
  UT_all += o.UT_all;
  exact_key_products += o.exact_key_products;
  exact_query_rows += o.exact_query_rows;
}

template <class T>
KeyResults<T>::KeyResults(const ThinWidths& w)
    : XT_FT_R_AvT(Matrix<T>::Zero(w.d, w.AvT)),
      BqT_XT_dS_K(Matrix<T>::Zero(w.X_Bq, w.d)),
      XT_dST_QAk(Matrix<T>::Zero(w.d, w.Q_Ak)) {}

template <class T>
void KeyResults<T>::add(const KeyResults& o) {
  XT_FT_R_AvT += o.XT_FT_R_AvT;
  BqT_XT_dS_K += o.BqT_XT_dS_K;
  XT_dST_QAk += o.XT_dST_QAk;
}

template <class T>
KeySums<T> key_sums(const SequenceInputs<T>& in) {
  const ThinWidths& w = in.f.widths;
  const Index k = in.features.rank();
  return sweep<KeySums<T>>(in, [&] { return KeySums<T>(k, w, outlier_queries(in), outlier_keys(in)); },
                           [&](Index j0, Index n, Scratch<T>& s, KeySums<T>& acc) {
                             in.features.keys(in.K_hat.middleRows(j0, n), s.features);
                             // [1 | N_F | N_dS | (diag(V_c) N_dS)_c] for these keys, then one product.
                             s.spread.resize(n, acc.WT_all.cols());
                             s.spread.col(0).setOnes();
                             s.spread.middleCols(1, w.d + w.X_Bv) = in.f.N_F.middleRows(j0, n);
                             if (w.N_dS()) {
                               s.spread.middleCols(acc.n_F1, acc.n_dS) =
                                   in.f.N_dS.middleRows(j0, n).rowwise() - in.N_dS_mean;
                               spread<T>(in.f.V.middleRows(j0, n), s.spread.middleCols(acc.n_F1, acc.n_dS),
                                         s.spread.rightCols(acc.n_V_dS));
                             }
                             if (in.exact)
                               in.exact->key_sums_block(j0, n, s.spread, acc.exact_query_products,
                                                        acc.exact_key_rows);
                             acc.WT_all.noalias() += s.features.transpose() * s.spread;
                           });
}

template <class T>
QuerySums<T> query_sums(const SequenceInputs<T>& in, const KeySums<T>& A) {
  const Index k = in.features.rank();
  return sweep<QuerySums<T>>(in, [&] { return QuerySums<T>(k, in.f.widths, outlier_queries(in), outlier_keys(in)); },
                             [&](Index i0, Index n, Scratch<T>& s, QuerySums<T>& acc) {
                               in.features.queries(in.Q_hat.middleRows(i0, n), s.features);
                               query_value_side(in, A, i0, n, s, acc);
                               query_score_side(in, A, i0, n, s, acc);
                             });
}

template <class T>
KeyResults<T> key_results(const SequenceInputs<T>& in, const QuerySums<T>& B) {
  const ThinWidths& w = in.f.widths;
  if (!(w.AvT + w.N_dST())) return KeyResults<T>(w);
  return sweep<KeyResults<T>>(
      in, [&] { return KeyResults<T>(w); },
      [&](Index j0, Index n, Scratch<T>& s, KeyResults<T>& acc) {
        in.features.keys(in.K_hat.middleRows(j0, n), s.features);
        s.wide.noalias() = s.features * B.UT_all;  // one product for every key-side result
        if (in.exact) in.exact->add_key_products(j0, n, B.exact_query_rows, B.exact_key_products, s.wide);
        if (w.AvT) acc.XT_FT_R_AvT.noalias() += in.X.middleRows(j0, n).transpose() * s.wide.leftCols(B.n_AvT);
        if (w.N_dST()) {
          contract_spread<T>(s.wide.middleCols(B.n_AvT, B.n_R_dST), in.f.V.middleRows(j0, n), s.block);
          s.block.noalias() -= s.wide.rightCols(B.n_dST);  // dS^T N_dST for these keys
          if (w.X_Bq)
            acc.BqT_XT_dS_K.noalias() +=
                s.block.leftCols(w.X_Bq).transpose() * (in.f.K.middleRows(j0, n).rowwise() - in.K_mean);
          if (w.Q_Ak)
            acc.XT_dST_QAk.noalias() +=
                (in.X.middleRows(j0, n).rowwise() - in.X_mean).transpose() * s.block.rightCols(w.Q_Ak);
        }
      });
}

#define LORAFGC_INSTANTIATE(T)                                                   \
  template struct KeySums<T>;                                                    \
  template struct QuerySums<T>;                                                  \
  template struct KeyResults<T>;                                                 \
  template KeySums<T> key_sums(const SequenceInputs<T>&);                        \
  template QuerySums<T> query_sums(const SequenceInputs<T>&, const KeySums<T>&); \
  template KeyResults<T> key_results(const SequenceInputs<T>&, const QuerySums<T>&);
LORAFGC_INSTANTIATE(float)
LORAFGC_INSTANTIATE(double)
#undef LORAFGC_INSTANTIATE

}  // namespace lorafgc::lora::detail
