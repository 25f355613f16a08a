#include "lora/common/thin_factors.hpp"

#include "lora/common/thin_products.hpp"

#include <algorithm>

namespace lorafgc::lora::detail {

namespace {

template <class T>
Matrix<T> hcat(const Matrix<T>& a, const Matrix<T>& b) {
  Matrix<T> out(std::max(a.rows(), b.rows()), a.cols() + b.cols());
  if (a.cols()) out.leftCols(a.cols()) = a;
  if (b.cols()) out.rightCols(b.cols()) = b;
  return out;
}

}  // namespace

ThinWidths thin_widths(const std::array<bool, 3>& adapted, Index d, Index r, bool whole) {
  const bool q = adapted[index(Projection::Q)], k = adapted[index(Projection::K)], v = adapted[index(Projection::V)];
  ThinWidths w;
  w.d = d;
  w.K_Aq = q ? (whole ? d : r) : 0;
  w.X_Bk = k && !whole ? r : 0;
  w.X_Bq = q && !whole ? r : 0;
  w.Q_Ak = k ? (whole ? d : r) : 0;
  w.X_Bv = v && !whole ? r : 0;
  w.AvT = v ? (whole ? d : r) : 0;
  return w;
}

ThinWidths thin_widths(const ProblemShape& s, bool whole) { return thin_widths(s.adapted, s.width, s.rank, whole); }

template <class T>
std::array<Matrix<T>, 3> effective_weights(const Problem<T>& p) {
  std::array<Matrix<T>, 3> W;
  for (Projection mu : kProjections) W[index(mu)] = p.effective_weight(mu);
  return W;
}

template <class T>
SequenceFactors<T> make_factors(const Problem<T>& p, const Matrix<T>& X, const std::array<Matrix<T>, 3>& W,
                                bool whole) {
  SequenceFactors<T> f;
  // Q and K as the certified range's rows form them (certified_range.hpp), bit
  // for bit: the range and poly-hybrid's bounds then hold for the very features
  // the run forms, not only to within the rounding of another product order.
  f.Q = thin_times_small(X, W[index(Projection::Q)]);
  f.K = thin_times_small(X, W[index(Projection::K)]);
  f.V = X * W[index(Projection::V)];
  const Index L = X.rows(), d = X.cols();
  const Matrix<T> none(L, 0);
  const auto& aq = p.adapter[index(Projection::Q)];
  const auto& ak = p.adapter[index(Projection::K)];
  const auto& av = p.adapter[index(Projection::V)];
  const Matrix<T> K_Aq = !aq ? none : whole ? f.K : Matrix<T>(f.K * aq->A.transpose());
  const Matrix<T> X_Bk = (!ak || whole) ? none : Matrix<T>(X * ak->B);
  const Matrix<T> X_Bq = (!aq || whole) ? none : Matrix<T>(X * aq->B);
  const Matrix<T> Q_Ak = !ak ? none : whole ? f.Q : Matrix<T>(f.Q * ak->A.transpose());
  const Matrix<T> X_Bv = (!av || whole) ? none : Matrix<T>(X * av->B);
  f.N_dS = hcat(K_Aq, X_Bk);
  f.N_dST = hcat(X_Bq, Q_Ak);
  f.N_F = hcat(f.V, X_Bv);
  if (av) f.AvT = whole ? Matrix<T>::Identity(d, d) : Matrix<T>(av->A.transpose());
  std::array<bool, 3> adapted;
  for (Projection mu : kProjections) adapted[index(mu)] = p.adapted(mu);
  f.widths = thin_widths(adapted, d, p.rank(), whole);
  return f;
}

template std::array<Matrix<float>, 3> effective_weights(const Problem<float>&);
template std::array<Matrix<double>, 3> effective_weights(const Problem<double>&);
template SequenceFactors<float> make_factors(const Problem<float>&, const Matrix<float>&,
                                             const std::array<Matrix<float>, 3>&, bool);
template SequenceFactors<double> make_factors(const Problem<double>&, const Matrix<double>&,
                                              const std::array<Matrix<double>, 3>&, bool);

}  // namespace lorafgc::lora::detail
