// A-priori bounds of the construction, following Lemmas 2-6 of Wu et al. but
// in the norms of the box domain: |v^T p| <= ||v||_1 ||p||_inf <= b fan_in ||p||_inf.
// Every quantity bounds both the exact value and the transformer's
// approximation, so the fitted ranges cover whatever the transformer computes.
#include "icgd_construction.hpp"

#include <lorafgc/core/errors.hpp>

#include <algorithm>
#include <cmath>

namespace lorafgc::icl::detail {

IcgdBounds compute_bounds(const IcgdConfig& c, double tau_r, double tau_rp) {
  const NetworkShape& s = c.shape;
  const int N = s.layers;
  const double b = c.radius;
  IcgdBounds B;
  B.preactivation.assign(N + 1, 0.0);
  B.activation.assign(N + 1, c.input_bound);
  B.forward_error.assign(N + 1, 0.0);
  B.r_prime_error.assign(N + 1, 0.0);
  B.backward_bound.assign(N + 1, 0.0);
  B.backward_error.assign(N + 1, 0.0);
  const double Lr = lipschitz_r(c.activation), Lrp = lipschitz_r_prime(c.activation);
  for (int j = 1; j <= N; ++j) {
    const double spread = b * s.fan_in(j);  // Lipschitz constant of p -> v^T p in the inf-norm
    B.preactivation[j] = spread * B.activation[j - 1];
    B.activation[j] = sup_abs_r(c.activation, B.preactivation[j]) + tau_r;
    B.forward_error[j] = tau_r + Lr * spread * B.forward_error[j - 1];
    B.r_prime_error[j] = tau_rp + Lrp * spread * B.forward_error[j - 1];
  }
  B.fit_range = std::max(1.0, *std::max_element(B.preactivation.begin(), B.preactivation.end()));
  B.loss_range = B.activation[N] + c.label_bound;

  const double r_prime_bound = sup_r_prime(c.activation) + tau_rp;
  const double g_bound = 2.0 * B.loss_range, g_error = 2.0 * B.forward_error[N];
  B.backward_bound[N] = r_prime_bound * g_bound;
  B.backward_error[N] = r_prime_bound * g_error + B.r_prime_error[N] * g_bound;
  for (int j = N - 1; j >= 1; --j) {
    const double spread = b * s.units(j + 1);  // |(V_{j+1}^T s)[k]| <= b units(j+1) ||s||_inf
    B.backward_bound[j] = r_prime_bound * spread * B.backward_bound[j + 1];
    B.backward_error[j] = r_prime_bound * spread * B.backward_error[j + 1] + B.r_prime_error[j] * spread * B.backward_bound[j + 1];
  }
  // Entry (j, k, l) of the gradient is 1/(2n) sum_i s_i(j)[k] p_i(j-1)[l].
  double squared = 0;
  for (int j = 1; j <= N; ++j) {
    const double entry = 0.5 * (B.backward_error[j] * B.activation[j - 1] + B.backward_bound[j] * B.forward_error[j - 1]);
    squared += double(s.units(j)) * s.fan_in(j) * entry * entry;
  }
  B.gradient_error = std::sqrt(squared);
  return B;
}

namespace {

Fits fit_with(const IcgdConfig& c, const FitTarget& target) {
  // The ranges depend on the fit errors (through B_p), the fits on the ranges:
  // iterate until the errors the ranges assumed cover the fits' errors.
  double tau_r = target.tolerance, tau_rp = target.tolerance;
  for (int iteration = 0; iteration < 50; ++iteration) {
    const IcgdBounds B = compute_bounds(c, tau_r, tau_rp);
    Fits f{fit_relu_sum(c.activation, FittedFunction::r, B.fit_range, target),
           fit_relu_sum(c.activation, FittedFunction::r_prime, B.fit_range, target), {}};
    if (f.r.error_bound <= tau_r && f.r_prime.error_bound <= tau_rp) {
      // Smaller errors only shrink the ranges, which stay inside the fitted one.
      f.bounds = compute_bounds(c, f.r.error_bound, f.r_prime.error_bound);
      f.bounds.fit_range = B.fit_range;
      return f;
    }
    tau_r = std::max(tau_r, 1.01 * f.r.error_bound);
    tau_rp = std::max(tau_rp, 1.01 * f.r_prime.error_bound);
  }
  throw NumericalError("the ReLU-sum fits did not settle on their ranges in 50 iterations");
}

}  // namespace

Fits fit_activation_sums(const IcgdConfig& c) {
  if (c.gradient_accuracy <= 0) return fit_with(c, c.fit);
  // The budget is nearly linear in the fit tolerance: rescale until it fits.
  double tau = 1e-3;
  for (int iteration = 0; iteration < 60; ++iteration) {
    const double eps = compute_bounds(c, tau, tau).gradient_error;
    if (eps <= c.gradient_accuracy && iteration > 0) {
      try {
        return fit_with(c, FitTarget{tau, 0});
      } catch (const InvalidArgument& e) {  // the tolerance it implies is too fine
        throw InvalidArgument("gradient_accuracy", std::string("needs a fit the limits refuse: ") + e.what());
      }
    }
    tau = std::min(1.0, tau * 0.99 * c.gradient_accuracy / eps);
  }
  throw InvalidArgument("gradient_accuracy", "cannot be reached by any fit tolerance for this configuration");
}

}  // namespace lorafgc::icl::detail
