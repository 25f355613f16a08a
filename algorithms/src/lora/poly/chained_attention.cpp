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
#include <optional>

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

// dS = E o (dO V^T - delta 1^T): the scores' gradient on entries E of exp (unnormalised).
template <class T, class Rows_V>
Matrix<T> score_gradient(const Matrix<T>& E, const Matrix<T>& dO, const Rows_V& V, const Vector<T>& delta) {
  return (E.array() * ((dO * V.transpose()).colwise() - delta).array()).matrix();
}

// One sequence, column-major, and its rows in chunks. poly-hybrid's exact rows
// (ChainedAttention::exact_rows) have zero features: ChunkExact holds their scores.
// Rows per chunk: at most block_rows and 64, down to 32 when a chunk's
// row-Kronecker products (rows x k d) would pass about 1 MiB (a Zen 5 core's L2).
// Measured on Zen 5, causal float32 backward after an exact forward, one A/B run:
// (4, 4, 2048, 8), k = 1287: 1854 ms with 512-row chunks (21 MB products, page
// faults), 413 with the cap; (1, 4, 8192, 8), k = 45: 40 ms against 20 (the causal
// diagonal chunks' exact entries grow with the chunk); non-causal unchanged.
template <class T>
Index chunk_rows(const ChainedAttention<T>& plan, const AttentionShape& s) {
  constexpr double kProductBytes = 1 << 20;
  constexpr Index kMaxRows = 64;
  const double row_bytes = static_cast<double>(plan.features->rank() * s.head_dim) * sizeof(T);
  const Index fit = std::max<Index>(32, static_cast<Index>(kProductBytes / row_bytes) / 16 * 16);
  const Index option = plan.block_rows > 0 ? plan.block_rows : kMaxRows;  // 0: the option unset
  return std::max<Index>(1, std::min<Index>({option, static_cast<Index>(s.length), fit, kMaxRows}));
}

template <class T>
struct Sequence {
  const ChainedAttention<T>& a;
  Index L, d, chunk;
  bool causal;
  T scale;
  Eigen::VectorXd centre;
  Matrix<T> Q, Kc, V, Q_hat, K_hat;
  const ExactRows* exact = nullptr;          // poly-hybrid's, else none
  std::vector<char> exact_query, exact_key;  // per row (poly-hybrid), else empty

  Sequence(const ChainedAttention<T>& plan, const AttentionShape& s, Index seq, const T* q, const T* k,
           const T* v)
      : a(plan), L(s.length), d(s.head_dim), chunk(chunk_rows(plan, s)), causal(s.causal),
        scale(static_cast<T>(s.scale)), centre(plan.range->centres[static_cast<std::size_t>(seq)]),
        Q(ConstRows<T>(q, L, d)), Kc(ConstRows<T>(k, L, d)), V(ConstRows<T>(v, L, d)) {
    Q_hat = scaled_queries(Q, *a.range);
    K_hat = scaled_keys(Kc, *a.range, static_cast<std::size_t>(seq));
    Kc.rowwise() -= centre.cast<T>().transpose();
    if (a.exact_rows) {
      exact = &(*a.exact_rows)[static_cast<std::size_t>(seq)];
      exact_query = flags(exact->queries, Q_hat);
      exact_key = flags(exact->keys, K_hat);
    }
  }
  Index chunks() const { return (L + chunk - 1) / chunk; }
  Index start(Index t) const { return t * chunk; }
  Index rows(Index t) const { return std::min(chunk, L - t * chunk); }
  void query_features(Index r0, Index n, Matrix<T>& U) const {
    a.features->queries(Q_hat.middleRows(r0, n), U);
    zero_exact(exact_query, r0, U);
  }
  void key_features(Index r0, Index n, Matrix<T>& W) const {
    a.features->keys(K_hat.middleRows(r0, n), W);
    zero_exact(exact_key, r0, W);
  }
  // S' of chunk t against itself (causal only).
  Matrix<T> diagonal_scores(Index t) const {
    return scale * Q.middleRows(start(t), rows(t)) * Kc.middleRows(start(t), rows(t)).transpose();
  }
  // exp(S'_ij - shift_i) of chunk t against itself, zero above the diagonal;
  // shift: the chunk's row shifts (poly-hybrid), or none. A map that does not
  // estimate exp(S') itself (FAVOR+) gives these entries too, on its own scale.
  Matrix<T> diagonal_exp(Index t, const Vector<T>* shift = nullptr) const {
    Matrix<T> E;
    if (a.features->estimates_exp_itself()) {
      Matrix<T> S = diagonal_scores(t);
      if (shift) S.colwise() -= *shift;
      E = S.array().exp().matrix();
    } else {
      Matrix<T> U, W;
      query_features(start(t), rows(t), U);
      key_features(start(t), rows(t), W);
      E.noalias() = U * W.transpose();
    }
    E.template triangularView<Eigen::StrictlyUpper>().setZero();
    return E;
  }
  // The shift each row's scores lose to centring: scale Q_i.c.
  Eigen::VectorXd shift(Index r0, Index n) const {
    return static_cast<double>(scale) * (Q.middleRows(r0, n).template cast<double>() * centre);
  }

 private:
  // The rows' flags; their scaled rows zeroed, so that the map's features of
  // rows beyond its interval stay finite before they are zeroed.
  static std::vector<char> flags(const std::vector<Index>& rows, Matrix<T>& scaled) {
    std::vector<char> out(static_cast<std::size_t>(scaled.rows()), 0);
    for (Index i : rows) out[static_cast<std::size_t>(i)] = 1, scaled.row(i).setZero();
    return out;
  }
  static void zero_exact(const std::vector<char>& exact, Index r0, Matrix<T>& features) {
    if (exact.empty()) return;
    for (Index i = 0; i < features.rows(); ++i)
      if (exact[static_cast<std::size_t>(r0 + i)]) features.row(i).setZero();
  }
};

// Row i of U times exp(-shift_i).
template <class T>
void scale_rows(Matrix<T>& U, const Vector<T>& shift) {
  U.array().colwise() *= (-shift.array()).exp();
}

// poly-hybrid's exact entries that a chunk of queries sees beyond the map and
// the diagonal chunk: exp(S'_ij) for i an exact query (every key it sees) or j
// an exact key (every other query); causal: keys of earlier chunks only, since
// the diagonal chunk is exact already. Each pair once: an exact query's row
// holds its exact keys too. Every entry of row i, the map's included
// (scale_features), is scaled by exp(-shift_i), shift_i = max(0, its largest
// exact score): softmax does not see a per-row factor, and the long rows'
// scores, which the map does not cover, may exceed exp's range (float: 88).
template <class T>
struct ChunkExact {
  Index visible = 0;          // keys [0, visible) of the exact queries' rows
  std::vector<Index> keys;    // the exact keys they see (ascending)
  std::vector<Index> rows;    // the chunk's exact queries, local rows
  Matrix<T> E_keys, E_rows;   // n x |keys| (exact queries' rows zero), |rows| x visible
  Vector<T> shift;            // per row of the chunk

  ChunkExact(const Sequence<T>& s, const ExactRows& x, Index t) : visible(s.causal ? s.start(t) : s.L) {
    const Index r0 = s.start(t), n = s.rows(t);
    for (Index j : x.keys)
      if (j < visible) keys.push_back(j);
    for (Index i = 0; i < n; ++i)
      if (s.exact_query[static_cast<std::size_t>(r0 + i)]) rows.push_back(i);
    const Matrix<T> Qt = s.Q.middleRows(r0, n);
    Matrix<T> S_keys = s.scale * Qt * s.Kc(keys, Eigen::all).transpose();
    Matrix<T> S_rows = s.scale * Qt(rows, Eigen::all) * s.Kc.topRows(visible).transpose();
    shift = Vector<T>::Zero(n);
    for (Index i = 0; i < n && !keys.empty(); ++i) shift(i) = std::max(shift(i), S_keys.row(i).maxCoeff());
    for (Index a = 0; a < S_rows.rows() && visible > 0; ++a)
      shift(rows[a]) = std::max(shift(rows[a]), S_rows.row(a).maxCoeff());
    if (s.causal) {
      const Matrix<T> S = s.diagonal_scores(t);
      for (Index i = 0; i < n; ++i) shift(i) = std::max(shift(i), S.row(i).head(i + 1).maxCoeff());
    }
    S_keys.colwise() -= shift;
    E_keys = S_keys.array().exp().matrix();
    for (Index i : rows) E_keys.row(i).setZero();
    S_rows.colwise() -= Vector<T>(shift(rows));
    E_rows = S_rows.array().exp().matrix();
  }
  void scale_features(Matrix<T>& U) const { scale_rows(U, shift); }
  Vector<T> row_sums() const {
    Vector<T> out = E_keys.rowwise().sum();
    for (std::size_t a = 0; a < rows.size(); ++a) out(rows[a]) += E_rows.row(static_cast<Index>(a)).sum();
    return out;
  }
  // Y += E [V | 1] over these entries.
  void add_forward(const Matrix<T>& V1, Matrix<T>& Y) const {
    Y.noalias() += E_keys * V1(keys, Eigen::all);
    Y(rows, Eigen::all) += E_rows * V1.topRows(visible);
  }
  // G += dS (K - c) over these entries (dS unnormalised, as the map's); the keys'
  // [dV | column sums of F~] and dK / scale to key_sums, by row of the sequence.
  void add_backward(const Sequence<T>& s, Index r0, const Matrix<T>& dOt, const Vector<T>& inv_D,
                    const Vector<T>& delta, Matrix<T>& G, Matrix<T>& key_sums) const {
    const Index n = dOt.rows(), d = s.d;
    const Matrix<T> Qt = s.Q.middleRows(r0, n);
    const Matrix<T> dS_keys = score_gradient<T>(E_keys, dOt, s.V(keys, Eigen::all), delta);
    G.noalias() += dS_keys * s.Kc(keys, Eigen::all);
    Matrix<T> dO1(n, d + 1);
    dO1 << dOt, Matrix<T>::Ones(n, 1);
    key_sums(keys, Eigen::seqN(0, d + 1)) += (inv_D.asDiagonal() * E_keys).transpose() * dO1;
    key_sums(keys, Eigen::seqN(d + 1, d)) += (inv_D.asDiagonal() * dS_keys).transpose() * Qt;
    if (rows.empty()) return;
    const Matrix<T> dOr = dO1(rows, Eigen::all);
    const Vector<T> inv_Dr = inv_D(rows), delta_r = delta(rows);
    const Matrix<T> dS_rows = score_gradient<T>(E_rows, dOr.leftCols(d), s.V.topRows(visible), delta_r);
    G(rows, Eigen::all) += dS_rows * s.Kc.topRows(visible);
    key_sums.topRows(visible).leftCols(d + 1).noalias() += (inv_Dr.asDiagonal() * E_rows).transpose() * dOr;
    key_sums.topRows(visible).rightCols(d).noalias() +=
        (inv_Dr.asDiagonal() * dS_rows).transpose() * Qt(rows, Eigen::all);
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
  const Matrix<T> V1_all = s.exact ? with_ones<T>(s.V) : Matrix<T>();
  if (!s.causal)
    for (Index t = 0; t < s.chunks(); ++t) {
      s.key_features(s.start(t), s.rows(t), W);
      Z.noalias() += W.transpose() * with_ones<T>(s.V.middleRows(s.start(t), s.rows(t)));
    }
  for (Index t = 0; t < s.chunks(); ++t) {
    const Index r0 = s.start(t), n = s.rows(t);
    const Matrix<T> V1 = with_ones<T>(s.V.middleRows(r0, n));
    s.query_features(r0, n, U);
    std::optional<ChunkExact<T>> exact;
    if (s.exact) exact.emplace(s, *s.exact, t).scale_features(U);
    Matrix<T> Y = U * Z;  // causal: Z holds the chunks before t
    if (s.causal) {
      Y.noalias() += s.diagonal_exp(t, exact ? &exact->shift : nullptr) * V1;
      s.key_features(r0, n, W);
      Z.noalias() += W.transpose() * V1;
    }
    Eigen::VectorXd log_scale = s.shift(r0, n);
    if (exact) {
      exact->add_forward(V1_all, Y);
      log_scale += exact->shift.template cast<double>();
    }
    const Vector<T> D = Y.col(d);
    require_positive_normaliser(D, s.a);
    Rows<T>(out + r0 * d, n, d) = D.cwiseInverse().asDiagonal() * Y.leftCols(d);
    Eigen::Map<Vector<T>>(lse + r0, n) = (D.template cast<double>().array().log() + log_scale.array()).template cast<T>();
  }
}

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
    s.key_features(r0, n, W);
    Matrix<T> K1(n, d + 1);
    K1 << Matrix<T>::Ones(n, 1), s.Kc.middleRows(r0, n);
    N1.noalias() += W.transpose() * K1;
    row_kronecker<T>(W, s.V.middleRows(r0, n), WV);
    M.noalias() += WV.transpose() * s.Kc.middleRows(r0, n);
  };
  if (!s.causal)
    for (Index t = 0; t < s.chunks(); ++t) add_keys(t);
  // Queries in order: D, dQ; the causal diagonal chunk exactly. poly-hybrid's
  // exact entries hand the keys [dV | column sums | dK / scale] in key_sums.
  Vector<T> D_all(L), shift_all;  // shift_all: ChunkExact's row shifts (poly-hybrid)
  Matrix<T> key_sums = s.exact ? Matrix<T>::Zero(L, 2 * d + 1) : Matrix<T>();
  if (s.exact) shift_all.resize(L);
  for (Index t = 0; t < s.chunks(); ++t) {
    const Index r0 = s.start(t), n = s.rows(t);
    s.query_features(r0, n, U);
    std::optional<ChunkExact<T>> exact;
    if (s.exact) {
      exact.emplace(s, *s.exact, t).scale_features(U);
      shift_all.segment(r0, n) = exact->shift;
    }
    const Matrix<T> dOt = dO.middleRows(r0, n);
    Vector<T> D = U * N1.col(0);
    Matrix<T> E;
    if (s.causal) {
      E = s.diagonal_exp(t, exact ? &exact->shift : nullptr);
      D += E.rowwise().sum();
    }
    if (exact) D += exact->row_sums();
    require_positive_normaliser(D, s.a);
    const Vector<T> inv_D = D.cwiseInverse(), delta = delta_all.segment(r0, n);
    row_kronecker<T>(U, dOt, UX);
    Matrix<T> G = UX * M - delta.asDiagonal() * (U * N1.rightCols(d));
    if (s.causal) {
      const Matrix<T> dS = score_gradient<T>(E, dOt, s.V.middleRows(r0, n), delta);
      G.noalias() += dS * s.Kc.middleRows(r0, n);
    }
    if (exact) exact->add_backward(s, r0, dOt, inv_D, delta, G, key_sums);
    Rows<T>(dq + r0 * d, n, d) = s.scale * (inv_D.asDiagonal() * G);
    D_all.segment(r0, n) = D;
    if (s.causal) add_keys(t);  // the next chunk sees this one through the sums
  }
  // Query-side sums over the queries that see a chunk of keys:
  // U^T [diag(1/D) dO | 1/D], P and U^T diag(delta/D) Q.
  Matrix<T> UA1 = Matrix<T>::Zero(k, d + 1), P = Matrix<T>::Zero(k * d, d), Nq = Matrix<T>::Zero(k, d);
  const auto add_queries = [&](Index t) {
    const Index r0 = s.start(t), n = s.rows(t);
    s.query_features(r0, n, U);
    if (s.exact) scale_rows<T>(U, shift_all.segment(r0, n));
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
    s.key_features(r0, n, W);
    Matrix<T> dV1 = W * UA1;  // [dV | column sums of F~]
    row_kronecker<T>(W, s.V.middleRows(r0, n), WV);
    Matrix<T> dKt = WV * P - W * Nq;
    if (s.exact) {
      dV1 += key_sums.middleRows(r0, n).leftCols(d + 1);
      dKt += key_sums.middleRows(r0, n).rightCols(d);
    }
    if (s.causal) {
      const Vector<T> inv_D = D_all.segment(r0, n).cwiseInverse(), delta = delta_all.segment(r0, n);
      const Vector<T> shift = s.exact ? Vector<T>(shift_all.segment(r0, n)) : Vector<T>();
      const Matrix<T> F = inv_D.asDiagonal() * s.diagonal_exp(t, s.exact ? &shift : nullptr);
      const Matrix<T> dOt = dO.middleRows(r0, n);
      const Matrix<T> dS = score_gradient<T>(F, dOt, s.V.middleRows(r0, n), delta);
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
