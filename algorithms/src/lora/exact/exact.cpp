// The driver of `exact`: thin factors per sequence, row blocks over OpenMP
// threads (per-thread accumulators, reduced once), then dB and dA assembled
// from the contracted products.
#include <lorafgc/core/errors.hpp>
#include "lora/exact/exact.hpp"

#include "lora/common/thin_factors.hpp"

#include <omp.h>

namespace lorafgc {

ExactSchedule parse_exact_schedule(const std::string& text) {
  if (text == "panel") return ExactSchedule::Panel;
  if (text == "stream") return ExactSchedule::Stream;
  throw InvalidArgument("option 'schedule'", "expected 'panel' or 'stream', got '" + text + "'");
}

const char* to_string(ExactSchedule s) { return s == ExactSchedule::Panel ? "panel" : "stream"; }

namespace detail {

namespace {

template <class T>
Matrix<T> hcat(const Matrix<T>& a, const Matrix<T>& b) {
  Matrix<T> out(std::max(a.rows(), b.rows()), a.cols() + b.cols());
  if (a.cols()) out.leftCols(a.cols()) = a;
  if (b.cols()) out.rightCols(b.cols()) = b;
  return out;
}

template <class T>
Accumulators<T> run_row_blocks(const Problem<T>& p, Index b, const SequenceFactors<T>& f, const ExactConfig& c) {
  const Matrix<T>& X = p.X[b];
  const Index L = X.rows(), d = X.cols();
  const Index rows = exact_block_rows(c, L, sizeof(T));
  const Index blocks = (L + rows - 1) / rows;
  const T beta = static_cast<T>(p.beta);
  Accumulators<T> total(f, L, d);
  const int threads = c.threads > 0 ? c.threads : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
  {
    Accumulators<T> acc(f, L, d);
    PanelScratch<T> panel;
    StreamScratch<T> stream;
#pragma omp for schedule(dynamic, 1)
    for (Index blk = 0; blk < blocks; ++blk) {
      const Index i0 = blk * rows, n = std::min(rows, L - i0);
      if (c.schedule == ExactSchedule::Panel)
        panel_rows(X, p.Y[b], f, beta, i0, n, panel, acc);
      else
        stream_rows(X, p.Y[b], f, beta, i0, n, static_cast<Index>(c.tile_cols), stream, acc);
    }
#pragma omp critical(lorafgc_exact_reduce)
    total.add(acc);
  }
  return total;
}

}  // namespace

template <class T>
SequenceFactors<T> make_factors(const Problem<T>& p, const Matrix<T>& X, const std::array<Matrix<T>, 3>& Weff,
                                bool weights) {
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

}  // namespace detail

long long exact_block_rows(const ExactConfig& c, long long length, int scalar_bytes) {
  long long rows = std::min(c.block_rows, std::max<long long>(length, 1));
  if (c.schedule == ExactSchedule::Panel)
    rows = std::min(rows, c.panel_bytes / (std::max<long long>(length, 1) * scalar_bytes));
  return std::max<long long>(1, rows);
}

double exact_product_width(const ProblemShape& s, ExactSchedule schedule) {
  double width = 3.0 * s.width;  // S = beta Q K^T, O = F V, R V^T
  if (schedule == ExactSchedule::Stream) width += s.width;  // S recomputed
  for (bool a : s.adapted)
    if (a) width += s.weights ? s.width : 2.0 * s.rank;
  return width;
}

template <class T>
Gradients<T> exact_gradients(const Problem<T>& p, const ExactConfig& c) {
  using detail::Index;
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
    const auto f = detail::make_factors(p, X, Weff, c.weights);
    const auto acc = detail::run_row_blocks(p, b, f, c);
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

  const double mean_loss = loss / static_cast<double>(p.batch());
  Gradients<T> g;
  if (c.weights) {
    g = gradients_from_weights(p, mean_loss, contracted, true);
  } else {
    g.loss = mean_loss;
    for (Projection q : kProjections)
      if (p.adapted(q)) g.adapter[index(q)] = AdapterGradient<T>{s * contracted[index(q)], s * left[index(q)]};
  }
  g.info["block_rows"] = static_cast<double>(exact_block_rows(c, p.length(), sizeof(T)));
  return g;
}

template Gradients<float> exact_gradients(const Problem<float>&, const ExactConfig&);
template Gradients<double> exact_gradients(const Problem<double>&, const ExactConfig&);

}  // namespace lorafgc
