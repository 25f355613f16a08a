// first_order_beta_sensitivity (beta_sensitivity.hpp). With F = 1/L + O(beta),
// Vc, Kc the centred values and keys, R = 1 V-bar^T - Y the residual at F = 1/L
// (column sums 1^T R = v - y, v = L V-bar) and M = Vc^T Kc / L:
//   dW_q = beta X^T R M,  dW_k = beta X^T Vc (R^T Q) / L,
//   dW_v = X^T 1 (1^T R) / L + beta X^T Kc (Q^T R) / L + beta X^T 1 (M Q^T 1)^T / L,
// the last two (dW_v's change through F, and through O) and dW_q, dW_k being
// what d/d log beta returns to first order.
#include "lora/auto_select/beta_sensitivity.hpp"

#include "lora/common/certified_range.hpp"
#include "lora/common/thin_products.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace lorafgc::lora::detail {

namespace {

// Matrices of at most 16 x 16 entries on the stack: at L = 512, d = 4 the
// thirty-odd d x d temporaries on the heap took most of this (2.4 us of a
// 17 us plan, Zen 5); Eigen also multiplies these coefficient-wise.
constexpr int kSmall = 16;
using SmallMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, 0, kSmall, kSmall>;
using SmallVector = Eigen::Matrix<double, Eigen::Dynamic, 1, 0, kSmall, 1>;

// max |dB|, |dA| over the adapted projections for weight gradients dW.
template <class M, class T>
double max_adapter_entry(const Problem<T>& p, const std::array<M, 3>& dW) {
  double m = 0;
  for (Projection k : kProjections)
    if (const auto& a = p.adapter[index(k)]) {
      const M A = a->A.template cast<double>(), B = a->B.template cast<double>();
      m = std::max({m, (dW[index(k)] * A.transpose()).cwiseAbs().maxCoeff(),
                    (B.transpose() * dW[index(k)]).cwiseAbs().maxCoeff()});
    }
  return m * p.scale();
}

// M, V: the d x d and d x 1 temporaries (SmallMatrix when d and r fit).
template <class M, class V, class T>
double sensitivity(const Problem<T>& p) {
  const auto rows = memoized_rows(p, true);  // the key centres c
  const auto weight = [&](Projection k) -> M { return p.effective_weight(k).template cast<double>(); };
  const M Wq = weight(Projection::Q), Wk = weight(Projection::K), Wv = weight(Projection::V);
  const Eigen::Index d = p.width();
  std::array<M, 3> G, dG;  // the gradients and their derivatives in log beta
  for (auto* m : {&G, &dG})
    for (auto& w : *m) w = M::Zero(d, d);
  // Q = X W_q, K = X W_k - 1 c^T and V = X W_v: every product with them is a
  // d x d one from X^T X and X^T Y, the only two over the sequence (four before,
  // through BLAS: 170 of a 270 us plan at L = 2048, d = 16 on Zen 5), formed by
  // thin_cross_product. L x d temporaries (V, R, the centred keys) would cost
  // more in first touches of fresh pages than in arithmetic (ten products with
  // them: 357 us at L = 4096, d = 4).
  const auto sum = [](const Matrix<T>& a) -> V { return a.colwise().sum().transpose().template cast<double>(); };
  for (std::size_t b = 0; b < rows->size(); ++b) {
    const Matrix<T>&X = p.X[b], &Y = p.Y[b];
    const V c = (*rows)[b].centre;
    const double L = static_cast<double>(X.rows());
    const M XtX = thin_cross_product(X, X), XtY = thin_cross_product(X, Y);
    const V x = sum(X), y = sum(Y), q = Wq.transpose() * x, v = Wv.transpose() * x;  // column sums
    const V k = Wk.transpose() * x - L * c, v_mean = v / L, k_mean = k / L;
    const M XtK = XtX * Wk - x * c.transpose();  // X^T K, K centred by c
    const M XtR = x * v_mean.transpose() - XtY, QtR = q * v_mean.transpose() - Wq.transpose() * XtY;
    const M XtVc = XtX * Wv - x * v_mean.transpose(), XtKc = XtK - x * k_mean.transpose();
    const M Mvk = (Wv.transpose() * XtK - v * k_mean.transpose()) / L;  // Vc^T Kc / L
    const M dWq = p.beta * XtR * Mvk, dWk = p.beta * XtVc * QtR.transpose() / L,
            dWv = p.beta * (XtKc * QtR + x * (Mvk * q).transpose()) / L;
    G[index(Projection::Q)] += dWq, dG[index(Projection::Q)] += dWq;
    G[index(Projection::K)] += dWk, dG[index(Projection::K)] += dWk;
    G[index(Projection::V)] += x * (v - y).transpose() / L + dWv, dG[index(Projection::V)] += dWv;
  }
  const double scale = max_adapter_entry(p, G);
  return scale > 0 ? max_adapter_entry(p, dG) / scale : -1;
}

}  // namespace

template <class T>
double first_order_beta_sensitivity(const Problem<T>& p) {
  if (p.width() <= kSmall && p.rank() <= kSmall) return sensitivity<SmallMatrix, SmallVector>(p);
  return sensitivity<Matrix<double>, Eigen::VectorXd>(p);
}

template double first_order_beta_sensitivity(const Problem<float>&);
template double first_order_beta_sensitivity(const Problem<double>&);

}  // namespace lorafgc::lora::detail
