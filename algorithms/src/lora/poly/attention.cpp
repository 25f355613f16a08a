// The polynomial method's attention on Q, K, V (docs/attention-backend.md,
// "The polynomial method"): exp(S'_ij) ~ E~_ij = <U_i, W_j>, U = phi(Q^),
// W = psi(K^) of rank k, S' = scale Q (K - c)^T the scores shifted per row
// (softmax does not see the shift), never an L x L matrix:
//   forward    [O D | D] = U W^T [V | 1]
//   dQ         scale diag(1/D) [(U (x) dO) M - diag(delta) U N],
//              M = (W (x) V)^T (K - c), N = W^T (K - c)
//   dV | s     W U^T [diag(1/D) dO | 1/D]  (s: column sums of F~, for the bound)
//   dK         scale [(W (x) V) P - W U^T diag(delta/D) Q], P = (U (x) diag(1/D) dO)^T Q
// with (x) the row-wise Kronecker product (row i: U_i (x) dO_i, k d columns),
// O(L k d^2). dQ takes K - c: every row of dS sums to zero, since delta comes
// from the same forward's O. Causal: chunks of rows; the keys of earlier
// chunks enter through running sums of the key-side products (prefix sums, in
// order), those of later chunks through running sums of the query-side
// products (in reverse), and each diagonal chunk exactly.
#include <lorafgc/core/errors.hpp>

#include "lora/common/certified_range.hpp"
#include "lora/common/row_major.hpp"
#include "lora/poly/error_bound.hpp"
#include "lora/poly/feature_map.hpp"
#include "lora/poly/poly.hpp"

#include <omp.h>

#include <cmath>
#include <memory>

namespace lorafgc::lora {

namespace {

using Index = Eigen::Index;
using detail::ConstRows;
using detail::Rows;

// One polynomial for all sequences, certified on their certified range.
template <class T>
struct AttentionPlan {
  detail::CertifiedRange range;  // T_used: the polynomial's interval, which contains the data's
  double T_data = 0;             // the data's certified range
  PolyPlan plan;
  double eval_error = 0, eta = 0;  // eta: relative error of the softmax entries
  bool certified = false;
  std::unique_ptr<detail::MonomialFeatureMap<T>> features;

  void report(AttentionInfo& info) const {
    info["degree"] = plan.polynomial.degree;
    info["rank"] = static_cast<double>(plan.rank);
    info["T"] = plan.score_bound;
    info["T_used"] = T_data;
    info["T_cauchy_schwarz"] = range.T_cauchy_schwarz;
    info["T_centred"] = range.T_centred;
    info["poly_error"] = plan.polynomial.certified_error;
    info["eval_error"] = eval_error;
    info["certified"] = certified;
  }
};

template <class T>
AttentionPlan<T> plan_attention(const AttentionShape& s, const T* q, const T* k, const PolyConfig& c) {
  const Index L = s.length, d = s.head_dim, n = L * d;
  std::vector<detail::SequenceRows<T>> rows;
  rows.reserve(static_cast<std::size_t>(s.sequences()));
  for (Index seq = 0; seq < s.sequences(); ++seq)
    rows.emplace_back(Matrix<T>(ConstRows<T>(q + seq * n, L, d)), Matrix<T>(ConstRows<T>(k + seq * n, L, d)),
                      c.centre);
  AttentionPlan<T> a;
  a.range = detail::certified_range(rows, s.scale, {c.centre, c.range_rows});
  a.T_data = a.range.T_used;
  ProblemShape shape;
  shape.batch = s.sequences();
  shape.length = L;
  shape.width = d;
  shape.rank = 1;
  shape.score_bound = a.T_data;
  a.plan = plan_poly(shape, a.T_data, sizeof(T), c);
  a.range.T_used = a.plan.score_bound;
  const double u = std::numeric_limits<T>::epsilon() / 2;
  a.eval_error = feature_rounding<T>(a.plan, a.range.feature_product_bound()) + a.range.centring_error(u);
  a.certified = a.plan.polynomial.certified_error + a.eval_error < 1;
  a.eta = softmax_relative_error(a.plan.polynomial.certified_error + a.eval_error);
  a.features = std::make_unique<detail::MonomialFeatureMap<T>>(static_cast<int>(d), a.plan.polynomial.degree,
                                                                a.plan.polynomial.scaled);
  return a;
}

// out (n x k d): row i is U_i (x) X_i, column a d + c holding U_ia X_ic.
template <class T>
void row_kronecker(const Matrix<T>& U, const Matrix<T>& X, Matrix<T>& out) {
  const Index k = U.cols(), d = X.cols();
  out.resize(U.rows(), k * d);
  for (Index a = 0; a < k; ++a) out.middleCols(a * d, d) = (X.array().colwise() * U.col(a).array()).matrix();
}

// [X | 1].
template <class T>
Matrix<T> with_ones(const Matrix<T>& X) {
  Matrix<T> out(X.rows(), X.cols() + 1);
  out << X, Matrix<T>::Ones(X.rows(), 1);
  return out;
}

// One sequence, column-major, and its rows in chunks.
template <class T>
struct Sequence {
  const AttentionPlan<T>& a;
  Index L, d, chunk;
  bool causal;
  T scale;
  Eigen::VectorXd centre;
  Matrix<T> Q, Kc, V, Q_hat, K_hat;

  Sequence(const AttentionPlan<T>& plan, const AttentionShape& s, Index seq, const T* q, const T* k, const T* v,
           Index block)
      : a(plan), L(s.length), d(s.head_dim), chunk(std::min<Index>(block, s.length)), causal(s.causal),
        scale(static_cast<T>(s.scale)), centre(plan.range.centres[static_cast<std::size_t>(seq)]),
        Q(ConstRows<T>(q, L, d)), Kc(ConstRows<T>(k, L, d)), V(ConstRows<T>(v, L, d)) {
    Q_hat = detail::scaled_queries(Q, a.range);
    K_hat = detail::scaled_keys(Kc, a.range, static_cast<std::size_t>(seq));
    Kc.rowwise() -= centre.cast<T>().transpose();
  }
  Index chunks() const { return (L + chunk - 1) / chunk; }
  Index start(Index t) const { return t * chunk; }
  Index rows(Index t) const { return std::min(chunk, L - t * chunk); }
  void features(Index t, Matrix<T>& U, Matrix<T>& W) const {
    a.features->queries(Q_hat.middleRows(start(t), rows(t)), U);
    a.features->keys(K_hat.middleRows(start(t), rows(t)), W);
  }
  // exp(S') of chunk t against itself, zero above the diagonal (causal only).
  Matrix<T> diagonal_exp(Index t) const {
    const Index r0 = start(t), n = rows(t);
    Matrix<T> E = (scale * Q.middleRows(r0, n) * Kc.middleRows(r0, n).transpose()).array().exp().matrix();
    E.template triangularView<Eigen::StrictlyUpper>().setZero();
    return E;
  }
  // The shift each row's scores lose to centring: scale Q_i.c.
  Eigen::VectorXd shift(Index r0, Index n) const {
    return static_cast<double>(scale) * (Q.middleRows(r0, n).template cast<double>() * centre);
  }
};

template <class T>
void require_positive_normaliser(const Vector<T>& D, const AttentionPlan<T>& a) {
  if (!(D.minCoeff() > 0))
    throw NumericalError("poly attention: a softmax normaliser is not positive (degree " +
                         std::to_string(a.plan.polynomial.degree) + ", T = " + std::to_string(a.plan.score_bound) +
                         "); raise the degree or use float64");
}

// O and lse of one sequence; D (its normalisers) kept for the error bound.
template <class T>
void forward_sequence(const Sequence<T>& s, T* out, T* lse) {
  const Index d = s.d;
  Matrix<T> U, W, Z = Matrix<T>::Zero(s.a.plan.rank, d + 1);
  if (!s.causal)
    for (Index t = 0; t < s.chunks(); ++t) {
      s.a.features->keys(s.K_hat.middleRows(s.start(t), s.rows(t)), W);
      Z.noalias() += W.transpose() * with_ones<T>(s.V.middleRows(s.start(t), s.rows(t)));
    }
  for (Index t = 0; t < s.chunks(); ++t) {
    const Index r0 = s.start(t), n = s.rows(t);
    const Matrix<T> V1 = with_ones<T>(s.V.middleRows(r0, n));
    Matrix<T> Y;
    if (s.causal) {
      s.features(t, U, W);
      Y = U * Z + s.diagonal_exp(t) * V1;  // Z: the chunks before t
      Z.noalias() += W.transpose() * V1;
    } else {
      s.a.features->queries(s.Q_hat.middleRows(r0, n), U);
      Y = U * Z;
    }
    const Vector<T> D = Y.col(d);
    require_positive_normaliser(D, s.a);
    Rows<T>(out + r0 * d, n, d) = D.cwiseInverse().asDiagonal() * Y.leftCols(d);
    Eigen::Map<Vector<T>>(lse + r0, n) = (D.template cast<double>().array().log() + s.shift(r0, n).array()).template cast<T>();
  }
}

// What one chunk of queries hands to the keys (dV, dK) and to the error bound.
template <class T>
struct QueryChunk {
  Matrix<T> U, A1, dS, F;  // A1 = [diag(1/D) dO | 1/D]; dS, F of the diagonal chunk (causal)
  Vector<T> D, delta;
};

// The backward of one sequence; returns max_j of the column sums of F~.
template <class T>
double backward_sequence(const Sequence<T>& s, const T* o, const T* d_out, T* dq, T* dk, T* dv) {
  const Index d = s.d, k = s.a.plan.rank, L = s.L;
  const Matrix<T> O = ConstRows<T>(o, L, d), dO = ConstRows<T>(d_out, L, d);
  const Vector<T> delta_all = (dO.array() * O.array()).rowwise().sum();
  Matrix<T> U, W, WV, UX;
  // Key-side sums over the keys a chunk of queries sees: [W^T 1 | W^T (K - c)] and M.
  Matrix<T> N1 = Matrix<T>::Zero(k, d + 1), M = Matrix<T>::Zero(k * d, d);
  const auto add_keys = [&](Index t) {
    const Index r0 = s.start(t), n = s.rows(t);
    s.a.features->keys(s.K_hat.middleRows(r0, n), W);
    Matrix<T> K1(n, d + 1);
    K1 << Matrix<T>::Ones(n, 1), s.Kc.middleRows(r0, n);
    N1.noalias() += W.transpose() * K1;
    row_kronecker<T>(W, s.V.middleRows(r0, n), WV);
    M.noalias() += WV.transpose() * s.Kc.middleRows(r0, n);
  };
  if (!s.causal)
    for (Index t = 0; t < s.chunks(); ++t) add_keys(t);
  // Queries in order: D, dQ; the causal diagonal chunk exactly.
  Vector<T> D_all(L);
  for (Index t = 0; t < s.chunks(); ++t) {
    const Index r0 = s.start(t), n = s.rows(t);
    s.a.features->queries(s.Q_hat.middleRows(r0, n), U);
    const Matrix<T> dOt = dO.middleRows(r0, n);
    Vector<T> D = U * N1.col(0);
    Matrix<T> E;
    if (s.causal) {
      E = s.diagonal_exp(t);
      D += E.rowwise().sum();
    }
    require_positive_normaliser(D, s.a);
    const Vector<T> inv_D = D.cwiseInverse(), delta = delta_all.segment(r0, n);
    row_kronecker<T>(U, dOt, UX);
    Matrix<T> G = UX * M - delta.asDiagonal() * (U * N1.rightCols(d));
    if (s.causal) {
      const Matrix<T> dS = (E.array() * ((dOt * s.V.middleRows(r0, n).transpose()).colwise() - delta).array()).matrix();
      G.noalias() += dS * s.Kc.middleRows(r0, n);
    }
    Rows<T>(dq + r0 * d, n, d) = s.scale * (inv_D.asDiagonal() * G);
    D_all.segment(r0, n) = D;
    if (s.causal) add_keys(t);  // the next chunk sees this one through the sums
  }
  // Query-side sums over the queries that see a chunk of keys:
  // U^T [diag(1/D) dO | 1/D], P and U^T diag(delta/D) Q.
  Matrix<T> UA1 = Matrix<T>::Zero(k, d + 1), P = Matrix<T>::Zero(k * d, d), Nq = Matrix<T>::Zero(k, d);
  const auto add_queries = [&](Index t) {
    const Index r0 = s.start(t), n = s.rows(t);
    s.a.features->queries(s.Q_hat.middleRows(r0, n), U);
    const Vector<T> inv_D = D_all.segment(r0, n).cwiseInverse();
    Matrix<T> A1(n, d + 1);
    A1 << inv_D.asDiagonal() * dO.middleRows(r0, n), inv_D;
    UA1.noalias() += U.transpose() * A1;
    row_kronecker<T>(U, A1.leftCols(d), UX);
    P.noalias() += UX.transpose() * s.Q.middleRows(r0, n);
    Nq.noalias() += U.transpose() * (inv_D.cwiseProduct(delta_all.segment(r0, n)).asDiagonal() * s.Q.middleRows(r0, n));
  };
  if (!s.causal)
    for (Index t = 0; t < s.chunks(); ++t) add_queries(t);
  double column_sum = 0;
  for (Index t = s.chunks() - 1; t >= 0; --t) {
    const Index r0 = s.start(t), n = s.rows(t);
    s.a.features->keys(s.K_hat.middleRows(r0, n), W);
    Matrix<T> dV1 = W * UA1;  // [dV | column sums of F~]
    row_kronecker<T>(W, s.V.middleRows(r0, n), WV);
    Matrix<T> dKt = WV * P - W * Nq;
    if (s.causal) {
      const Vector<T> inv_D = D_all.segment(r0, n).cwiseInverse(), delta = delta_all.segment(r0, n);
      const Matrix<T> F = inv_D.asDiagonal() * s.diagonal_exp(t);
      const Matrix<T> dOt = dO.middleRows(r0, n);
      const Matrix<T> dS = (F.array() * ((dOt * s.V.middleRows(r0, n).transpose()).colwise() - delta).array()).matrix();
      dV1.leftCols(d).noalias() += F.transpose() * dOt;
      dV1.col(d).noalias() += F.transpose() * Vector<T>::Ones(n);
      dKt.noalias() += dS.transpose() * s.Q.middleRows(r0, n);
      add_queries(t);  // the chunk before sees this one's queries through the sums
    }
    Rows<T>(dv + r0 * d, n, d) = dV1.leftCols(d);
    Rows<T>(dk + r0 * d, n, d) = s.scale * dKt;
    column_sum = std::max(column_sum, static_cast<double>(dV1.col(d).maxCoeff()));
  }
  return column_sum;
}

int attention_threads(const PolyConfig& c) { return c.threads > 0 ? c.threads : omp_get_max_threads(); }

// f(seq) for every sequence: whole sequences over threads while there are at
// least as many as threads (BLAS single-threaded inside), else one at a time
// with BLAS on all threads.
template <class F>
void for_sequences(const AttentionShape& shape, const PolyConfig& c, F&& f) {
  const int threads = attention_threads(c);
  if (shape.sequences() >= threads && threads > 1) {
    std::exception_ptr error;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (Index seq = 0; seq < shape.sequences(); ++seq) {
      try {
        f(seq);
      } catch (...) {
#pragma omp critical(lorafgc_poly_attention_error)
        if (!error) error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
  } else {
    for (Index seq = 0; seq < shape.sequences(); ++seq) f(seq);
  }
}

[[noreturn]] void refuse_hybrid() {
  throw InvalidArgument("algorithm", "'poly-hybrid' does not compute attention on Q, K, V (yet); use poly-cheb");
}

}  // namespace

template <class T>
void poly_attention_forward(const AttentionShape& shape, const AttentionForwardIO<T>& io, const PolyConfig& c) {
  if (c.hybrid) refuse_hybrid();
  const AttentionPlan<T> a = plan_attention(shape, io.q, io.k, c);
  const Index n = shape.length * shape.head_dim;
  for_sequences(shape, c, [&](Index seq) {
    const Sequence<T> s(a, shape, seq, io.q + seq * n, io.k + seq * n, io.v + seq * n, c.block_rows);
    forward_sequence(s, io.out + seq * n, io.lse + seq * shape.length);
  });
  if (!io.info) return;
  a.report(*io.info);
  // |O~ - O| <= eta max_j |V_jc|: F~_ij / F_ij lies in [1/(1 + eta), 1 + eta].
  if (a.certified) {
    double v_max = 0;
    for (long long i = 0; i < shape.elements(); ++i) v_max = std::max(v_max, std::abs(static_cast<double>(io.v[i])));
    (*io.info)["error_bound_out"] = a.eta * v_max;
  }
}

template <class T>
void poly_attention_backward(const AttentionShape& shape, const AttentionBackwardIO<T>& io, const PolyConfig& c) {
  if (c.hybrid) refuse_hybrid();
  const AttentionPlan<T> a = plan_attention(shape, io.q, io.k, c);
  const Index n = shape.length * shape.head_dim, L = shape.length, d = shape.head_dim;
  std::vector<double> column_sum(static_cast<std::size_t>(shape.sequences())), dq_bound(column_sum),
      dk_bound(column_sum), dv_bound(column_sum);
  for_sequences(shape, c, [&](Index seq) {
    const Sequence<T> s(a, shape, seq, io.q + seq * n, io.k + seq * n, io.v + seq * n, c.block_rows);
    const double sums = backward_sequence(s, io.out + seq * n, io.d_out + seq * n, io.dq + seq * n,
                                          io.dk + seq * n, io.dv + seq * n);
    // The a-priori bounds (docs/attention-backend.md): G_i = ||dO_i|| max_j ||V_j||.
    const auto dO = ConstRows<T>(io.d_out + seq * n, L, d);
    const Vector<T> G = dO.rowwise().norm() * s.V.rowwise().norm().maxCoeff();
    const double eta = a.eta, scale = std::abs(static_cast<double>(s.scale));
    const auto i = static_cast<std::size_t>(seq);
    dq_bound[i] = 3 * scale * eta * G.maxCoeff() * s.Kc.cwiseAbs().maxCoeff();
    dk_bound[i] = scale * eta * (3 + 2 * eta) * sums * (G.asDiagonal() * s.Q.cwiseAbs()).maxCoeff();
    dv_bound[i] = eta * (1 + eta) * sums * dO.cwiseAbs().maxCoeff();
  });
  if (!io.info) return;
  a.report(*io.info);
  if (a.certified) {
    (*io.info)["error_bound_dq"] = *std::max_element(dq_bound.begin(), dq_bound.end());
    (*io.info)["error_bound_dk"] = *std::max_element(dk_bound.begin(), dk_bound.end());
    (*io.info)["error_bound_dv"] = *std::max_element(dv_bound.begin(), dv_bound.end());
  }
}

template void poly_attention_forward(const AttentionShape&, const AttentionForwardIO<float>&, const PolyConfig&);
template void poly_attention_forward(const AttentionShape&, const AttentionForwardIO<double>&, const PolyConfig&);
template void poly_attention_backward(const AttentionShape&, const AttentionBackwardIO<float>&, const PolyConfig&);
template void poly_attention_backward(const AttentionShape&, const AttentionBackwardIO<double>&, const PolyConfig&);

}  // namespace lorafgc::lora
