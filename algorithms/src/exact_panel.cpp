#include <lorafgc/exact_panel.hpp>

#include "blas_gemm.hpp"

#include <omp.h>

#include <algorithm>

namespace lorafgc {

namespace {

using Index = Eigen::Index;

// Per sequence, read-only while the panels run. The thin factors are chosen so
// the L x L panels only ever meet products of width r (adapter gradients) or d
// (S, O, R V^T); see shared/design/lora-gradients.md, "contract with the thin
// factor before touching the L x L matrix".
template <class T>
struct SequenceFactors {
  Matrix<T> Q, K, V;
  Matrix<T> ds_right;  // [K A_q^T | X B_k]      : dS  * this, k = L
  Matrix<T> ds_left;   // [X B_q  | Q A_k^T]     : dS^T * this, accumulated
  Matrix<T> f_right;   // [V | X B_v]            : F * this, k = L
  Matrix<T> r_coef;    // A_v^T                  : F^T (R * this), accumulated
  Index mq = 0, rk = 0, rq = 0, mk = 0, rv = 0, mv = 0;  // column-group widths
};

template <class T>
Matrix<T> hcat(const Matrix<T>& a, const Matrix<T>& b) {
  Matrix<T> out(std::max(a.rows(), b.rows()), a.cols() + b.cols());
  if (a.cols()) out.leftCols(a.cols()) = a;
  if (b.cols()) out.rightCols(b.cols()) = b;
  return out;
}

// With `weights` the contraction is with the identity: the factors give the
// whole d x d gradient, from which dB and dA follow in O(d^2 r).
template <class T>
SequenceFactors<T> make_factors(const Problem<T>& p, const Matrix<T>& X,
                                const std::array<Matrix<T>, 3>& Weff, bool weights) {
  SequenceFactors<T> f;
  f.Q = X * Weff[0];
  f.K = X * Weff[1];
  f.V = X * Weff[2];
  const Index L = X.rows(), d = X.cols();
  const Matrix<T> none(L, 0);
  const auto& aq = p.adapter[0];
  const auto& ak = p.adapter[1];
  const auto& av = p.adapter[2];
  const Matrix<T> Kq = !aq ? none : weights ? f.K : Matrix<T>(f.K * aq->A.transpose());
  const Matrix<T> XBk = (!ak || weights) ? none : Matrix<T>(X * ak->B);
  const Matrix<T> XBq = (!aq || weights) ? none : Matrix<T>(X * aq->B);
  const Matrix<T> Qk = !ak ? none : weights ? f.Q : Matrix<T>(f.Q * ak->A.transpose());
  const Matrix<T> XBv = (!av || weights) ? none : Matrix<T>(X * av->B);
  f.ds_right = hcat(Kq, XBk);
  f.ds_left = hcat(XBq, Qk);
  f.f_right = hcat(f.V, XBv);
  if (av) f.r_coef = weights ? Matrix<T>::Identity(d, d) : Matrix<T>(av->A.transpose());
  f.mq = Kq.cols();
  f.rk = XBk.cols();
  f.rq = XBq.cols();
  f.mk = Qk.cols();
  f.rv = XBv.cols();
  f.mv = f.r_coef.cols();
  return f;
}

template <class T>
struct Accumulators {
  double loss = 0;
  Matrix<T> Pq;   // X^T dS K A_q^T          (d x mq)
  Matrix<T> Lk;   // (dS X B_k)^T Q          (rk x d)
  Matrix<T> Gds;  // dS^T [X B_q | Q A_k^T]  (L x (rq + mk))
  Matrix<T> Lv;   // (F X B_v)^T R           (rv x d)
  Matrix<T> Gf;   // F^T R A_v^T             (L x mv)

  Accumulators(const SequenceFactors<T>& f, Index L, Index d)
      : Pq(Matrix<T>::Zero(d, f.mq)),
        Lk(Matrix<T>::Zero(f.rk, d)),
        Gds(Matrix<T>::Zero(L, f.rq + f.mk)),
        Lv(Matrix<T>::Zero(f.rv, d)),
        Gf(Matrix<T>::Zero(L, f.mv)) {}

  void add(const Accumulators& o) {
    loss += o.loss;
    Pq += o.Pq;
    Lk += o.Lk;
    Gds += o.Gds;
    Lv += o.Lv;
    Gf += o.Gf;
  }
};

// Scratch of one thread: two b x L panels (scores/F, then R V^T/dS) and the
// small products; allocated once per sequence, reused by every panel.
template <class T>
struct PanelScratch {
  Matrix<T> P, G, T1, T2, R, RC;
  Vector<T> rowv;
};

// Rows [i0, i0 + n) of the attention matrix, processed whole. The panel P holds
// E = exp(S - rowmax) unnormalised; the row scale 1/sum is applied to the thin
// results instead (O, R A_v^T, dS), which saves a pass over the b x L panel.
template <class T>
void process_panel(const Matrix<T>& X, const Matrix<T>& Y, const SequenceFactors<T>& f, T beta,
                   Index i0, Index n, PanelScratch<T>& w, Accumulators<T>& acc) {
  const Index d = X.cols(), L = X.rows();
  Matrix<T>& P = w.P;
  P.resize(n, L);
  detail::gemm_nt<T>(beta, f.Q.middleRows(i0, n), f.K, T(0), P);
  // Softmax with the row maximum subtracted: scores of 1e4 stay finite.
  w.rowv = P.rowwise().maxCoeff();
  P.colwise() -= w.rowv;
  P.array() = P.array().exp();  // plain array: Eigen vectorises exp here
  const Vector<T> inv_sum = P.rowwise().sum().cwiseInverse();

  w.T2.noalias() = P * f.f_right;  // [O | F X B_v], still unnormalised
  w.T2 = inv_sum.asDiagonal() * w.T2;
  w.R = w.T2.leftCols(d) - Y.middleRows(i0, n);
  acc.loss += 0.5 * static_cast<double>(w.R.squaredNorm());
  if (f.rv) acc.Lv.noalias() += w.T2.rightCols(f.rv).transpose() * w.R;
  if (f.mv) {
    w.RC.noalias() = inv_sum.asDiagonal() * (w.R * f.r_coef);
    acc.Gf.noalias() += P.transpose() * w.RC;
  }
  // delta_i = <R_i, O_i> = sum_j F_ij (R V^T)_ij, then dS = F o (R V^T - delta 1^T).
  w.rowv = (w.R.array() * w.T2.leftCols(d).array()).rowwise().sum();
  Matrix<T>& G = w.G;
  G.resize(n, L);
  detail::gemm_nt<T>(T(1), w.R, f.V, T(0), G);
  G = ((P.array() * (G.array().colwise() - w.rowv.array())).colwise() * inv_sum.array()).matrix();

  if (f.mq + f.rk) {
    w.T1.noalias() = G * f.ds_right;
    if (f.mq) acc.Pq.noalias() += X.middleRows(i0, n).transpose() * w.T1.leftCols(f.mq);
    if (f.rk) acc.Lk.noalias() += w.T1.rightCols(f.rk).transpose() * f.Q.middleRows(i0, n);
  }
  if (f.rq + f.mk) acc.Gds.noalias() += G.transpose() * f.ds_left.middleRows(i0, n);
}

template <class T>
Accumulators<T> run_panels(const Problem<T>& p, Index b, const SequenceFactors<T>& f,
                           const ExactPanelConfig& c) {
  const Matrix<T>& X = p.X[b];
  const Index L = X.rows(), d = X.cols();
  const Index rows = exact_panel_rows(c, L, sizeof(T));
  const Index blocks = (L + rows - 1) / rows;
  const T beta = static_cast<T>(p.beta);
  Accumulators<T> total(f, L, d);
  const int threads = c.threads > 0 ? c.threads : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
  {
    Accumulators<T> acc(f, L, d);
    PanelScratch<T> scratch;
#pragma omp for schedule(dynamic, 1)
    for (Index blk = 0; blk < blocks; ++blk) {
      const Index i0 = blk * rows;
      process_panel(X, p.Y[b], f, beta, i0, std::min(rows, L - i0), scratch, acc);
    }
#pragma omp critical(lorafgc_exact_panel_reduce)
    total.add(acc);
  }
  return total;
}

}  // namespace

long long exact_panel_rows(const ExactPanelConfig& c, long long length, int scalar_bytes) {
  const long long by_bytes = c.panel_bytes / (std::max<long long>(length, 1) * scalar_bytes);
  return std::max<long long>(1, std::min({c.block_rows, by_bytes, std::max<long long>(length, 1)}));
}

double exact_panel_product_width(const ProblemShape& s) {
  double width = 3.0 * s.width;  // S = beta Q K^T, O = F V, R V^T
  for (bool a : s.adapted)
    if (a) width += s.weights ? s.width : 2.0 * s.rank;
  return width;
}

template <class T>
Gradients<T> exact_panel_gradients(const Problem<T>& p, const ExactPanelConfig& c) {
  p.validate();
  const T beta = static_cast<T>(p.beta), s = static_cast<T>(p.scale());
  const T inv_batch = T(1) / static_cast<T>(p.batch());
  std::array<Matrix<T>, 3> Weff;
  for (Projection q : kProjections) Weff[index(q)] = p.effective_weight(q);

  // contracted[mu] = dW_mu A_mu^T (or dW_mu with weights); left[mu] = B_mu^T dW_mu.
  std::array<Matrix<T>, 3> contracted, left;
  double loss = 0;
  for (Index b = 0; b < p.batch(); ++b) {
    const Matrix<T>& X = p.X[b];
    const SequenceFactors<T> f = make_factors(p, X, Weff, c.weights);
    const Accumulators<T> acc = run_panels(p, b, f, c);
    loss += acc.loss;
    auto add = [&](Matrix<T>& into, const Matrix<T>& term) {
      if (into.size() == 0) into = Matrix<T>::Zero(term.rows(), term.cols());
      into.noalias() += inv_batch * term;
    };
    if (f.mq) add(contracted[0], beta * acc.Pq);
    if (f.rq) add(left[0], beta * (acc.Gds.leftCols(f.rq).transpose() * f.K));
    if (f.mk) add(contracted[1], beta * (X.transpose() * acc.Gds.rightCols(f.mk)));
    if (f.rk) add(left[1], beta * acc.Lk);
    if (f.mv) add(contracted[2], X.transpose() * acc.Gf);
    if (f.rv) add(left[2], acc.Lv);
  }

  Gradients<T> g;
  g.loss = loss / static_cast<double>(p.batch());
  for (Projection q : kProjections) {
    const auto& a = p.adapter[index(q)];
    if (!a) continue;
    const Matrix<T>& C = contracted[index(q)];
    if (c.weights) {
      g.adapter[index(q)] = AdapterGradient<T>{s * C * a->A.transpose(), s * a->B.transpose() * C};
      g.weight[index(q)] = C;
    } else {
      g.adapter[index(q)] = AdapterGradient<T>{s * C, s * left[index(q)]};
    }
  }
  g.info["block_rows"] = static_cast<double>(exact_panel_rows(c, p.length(), sizeof(T)));
  return g;
}

template Gradients<float> exact_panel_gradients(const Problem<float>&, const ExactPanelConfig&);
template Gradients<double> exact_panel_gradients(const Problem<double>&, const ExactPanelConfig&);

}  // namespace lorafgc
