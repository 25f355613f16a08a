// The chained low-rank attention (chained_attention.hpp):
//   forward    [O D | D] = U W^T [V | 1]
//   dQ         scale diag(1/D) [(U (x) dO) M - diag(delta) U N],
//              M = (W (x) V)^T (K - c), N = W^T (K - c)
//   dV | s     W U^T [diag(1/D) dO | 1/D]  (s: column sums of F~, for the bounds)
//   dK         scale [(W (x) V) P - W U^T diag(delta/D) Q], P = (U (x) diag(1/D) dO)^T Q
// with (x) the row-wise Kronecker product (row i: U_i (x) dO_i, k d columns),
// O(L k d^2). dQ takes K - c: every row of dS sums to zero, since delta comes
// from the same forward's O. Causal: chunks of rows; the keys of earlier
// chunks enter through running sums of the key-side products (prefix sums, in
// order), those of later chunks through running sums of the query-side
// products (in reverse), and each diagonal chunk exactly.
#include "lora/poly/chained_attention.hpp"

#include <lorafgc/core/errors.hpp>

#include "lora/common/row_major.hpp"

#include <omp.h>

#include <algorithm>
#include <exception>

namespace lorafgc::lora::detail {

namespace {

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
  const ChainedAttention<T>& a;
  Index L, d, chunk;
  bool causal;
  T scale;
  Eigen::VectorXd centre;
  Matrix<T> Q, Kc, V, Q_hat, K_hat;

  Sequence(const ChainedAttention<T>& plan, const AttentionShape& s, Index seq, const T* q, const T* k,
           const T* v)
      : a(plan), L(s.length), d(s.head_dim), chunk(std::min<Index>(plan.block_rows, s.length)), causal(s.causal),
        scale(static_cast<T>(s.scale)), centre(plan.range->centres[static_cast<std::size_t>(seq)]),
        Q(ConstRows<T>(q, L, d)), Kc(ConstRows<T>(k, L, d)), V(ConstRows<T>(v, L, d)) {
    Q_hat = scaled_queries(Q, *a.range);
    K_hat = scaled_keys(Kc, *a.range, static_cast<std::size_t>(seq));
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
void require_positive_normaliser(const Vector<T>& D, const ChainedAttention<T>& a) {
  if (!(D.minCoeff() > 0))
    throw NumericalError(a.method + ": a softmax normaliser of the attention is not positive");
}

// O and lse of one sequence.
template <class T>
void forward_sequence(const Sequence<T>& s, T* out, T* lse) {
  const Index d = s.d;
  Matrix<T> U, W, Z = Matrix<T>::Zero(s.a.features->rank(), d + 1);
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
  const Index d = s.d, k = s.a.features->rank(), L = s.L;
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

// f(seq) for every sequence: whole sequences over threads while there are at
// least as many as threads (BLAS single-threaded inside), else one at a time
// with BLAS on all threads.
template <class F>
void for_sequences(const AttentionShape& shape, int threads_option, F&& f) {
  const int threads = threads_option > 0 ? threads_option : omp_get_max_threads();
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

}  // namespace

void report_attention_range(AttentionInfo& info, const CertifiedRange& range, double T_used, double rank) {
  info["T_used"] = T_used;
  info["T_cauchy_schwarz"] = range.T_cauchy_schwarz;
  info["T_centred"] = range.T_centred;
  info["rank"] = rank;
}

template <class T>
std::vector<SequenceRows<T>> attention_rows(const AttentionShape& s, const T* q, const T* k, bool centre) {
  const Index L = s.length, d = s.head_dim, n = L * d;
  std::vector<SequenceRows<T>> rows;
  rows.reserve(static_cast<std::size_t>(s.sequences()));
  for (Index seq = 0; seq < s.sequences(); ++seq)
    rows.emplace_back(Matrix<T>(ConstRows<T>(q + seq * n, L, d)), Matrix<T>(ConstRows<T>(k + seq * n, L, d)), centre);
  return rows;
}

template <class T>
void chained_attention_forward(const AttentionShape& shape, const AttentionForwardIO<T>& io,
                               const ChainedAttention<T>& a) {
  const Index n = shape.length * shape.head_dim;
  for_sequences(shape, a.threads, [&](Index seq) {
    const Sequence<T> s(a, shape, seq, io.q + seq * n, io.k + seq * n, io.v + seq * n);
    forward_sequence(s, io.out + seq * n, io.lse + seq * shape.length);
  });
}

template <class T>
std::vector<double> chained_attention_backward(const AttentionShape& shape, const AttentionBackwardIO<T>& io,
                                               const ChainedAttention<T>& a) {
  const Index n = shape.length * shape.head_dim;
  std::vector<double> column_sums(static_cast<std::size_t>(shape.sequences()));
  for_sequences(shape, a.threads, [&](Index seq) {
    const Sequence<T> s(a, shape, seq, io.q + seq * n, io.k + seq * n, io.v + seq * n);
    column_sums[static_cast<std::size_t>(seq)] = backward_sequence(s, io.out + seq * n, io.d_out + seq * n,
                                                                   io.dq + seq * n, io.dk + seq * n, io.dv + seq * n);
  });
  return column_sums;
}

#define LORAFGC_INSTANTIATE(T)                                                                                    \
  template std::vector<SequenceRows<T>> attention_rows(const AttentionShape&, const T*, const T*, bool);          \
  template void chained_attention_forward(const AttentionShape&, const AttentionForwardIO<T>&,                   \
                                          const ChainedAttention<T>&);                                            \
  template std::vector<double> chained_attention_backward(const AttentionShape&, const AttentionBackwardIO<T>&,   \
                                                          const ChainedAttention<T>&);
LORAFGC_INSTANTIATE(float)
LORAFGC_INSTANTIATE(double)
#undef LORAFGC_INSTANTIATE

}  // namespace lorafgc::lora::detail
