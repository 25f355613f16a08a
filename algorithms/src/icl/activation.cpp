#include <lorafgc/core/errors.hpp>
#include <lorafgc/icl/activation.hpp>

#include <cmath>

namespace lorafgc::icl {
namespace {

// 1/(1+e^{-t}) without overflow for large |t|.
double logistic(double t) {
  if (t >= 0) return 1.0 / (1.0 + std::exp(-t));
  const double e = std::exp(t);
  return e / (1.0 + e);
}

}  // namespace

Activation parse_activation(const std::string& name) {
  if (name == "softplus") return Activation::softplus;
  if (name == "sigmoid") return Activation::sigmoid;
  throw InvalidArgument("activation", "expected 'softplus' or 'sigmoid', got '" + name + "'");
}

std::string activation_name(Activation a) { return a == Activation::softplus ? "softplus" : "sigmoid"; }

double activate(Activation a, double t) {
  if (a == Activation::sigmoid) return logistic(t);
  // log(1 + e^t) = max(t, 0) + log1p(e^{-|t|}): no overflow, no loss for t << 0.
  return std::max(t, 0.0) + std::log1p(std::exp(-std::abs(t)));
}

double derivative(Activation a, double t) {
  const double s = logistic(t);
  return a == Activation::softplus ? s : s * (1.0 - s);
}

// softplus' = sigmoid (Lipschitz 1/4); sigmoid' = s(1-s) <= 1/4 and
// |sigmoid''| = |s(1-s)(1-2s)| <= 1/(6 sqrt 3), attained at s = 1/2 -+ 1/(2 sqrt 3).
double lipschitz_r(Activation a) { return a == Activation::softplus ? 1.0 : 0.25; }
double lipschitz_r_prime(Activation a) { return a == Activation::softplus ? 0.25 : 1.0 / (6.0 * std::sqrt(3.0)); }
double sup_r_prime(Activation a) { return a == Activation::softplus ? 1.0 : 0.25; }

double sup_abs_r(Activation a, double R) {
  return std::max(std::abs(activate(a, R)), std::abs(activate(a, -R)));
}

}  // namespace lorafgc::icl
