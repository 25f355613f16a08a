#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/icl/relu_sum.hpp>

#include <algorithm>
#include <cmath>
#include <string>

namespace lorafgc::icl {
namespace {

// Bound on |f''| over [x, infinity) for x >= 0 (see the header).
double curvature_bound(double x) { return std::min(0.25, std::exp(-x)); }

// Knots 0 = x_0 < ... < x_m = R with every cell's interpolation bound <= tau.
// Stops early (returning a partial grid) once it holds more than cap knots.
std::vector<double> half_grid(double range, double tau, std::size_t cap = 20000000) {
  std::vector<double> x{0.0};
  // (1 - 1e-12): so that rounding cannot lift a cell's bound h^2/8 M above tau.
  while (x.back() < range && x.size() <= cap)
    x.push_back(std::min(range, x.back() + (1 - 1e-12) * std::sqrt(8.0 * tau / curvature_bound(x.back()))));
  return x;
}

std::vector<double> symmetric_grid(double range, double tau, std::size_t cap = 20000000) {
  const auto half = half_grid(range, tau, cap);
  std::vector<double> knots;
  for (auto it = half.rbegin(); it != half.rend(); ++it) knots.push_back(-*it);
  knots.insert(knots.end(), half.begin() + 1, half.end());
  return knots;
}

double grid_error_bound(const std::vector<double>& knots) {
  double bound = 0;
  for (std::size_t m = 0; m + 1 < knots.size(); ++m) {
    const double h = knots[m + 1] - knots[m];
    const double nearest = (knots[m] <= 0 && knots[m + 1] >= 0) ? 0.0 : std::min(std::abs(knots[m]), std::abs(knots[m + 1]));
    bound = std::max(bound, h * h / 8.0 * curvature_bound(nearest));
  }
  return bound;
}

// P(t) = f(t_0) + sum_m (s_m - s_{m-1}) relu(t - t_m), s_{-1} = 0, which is the
// interpolant for t >= t_0. Each unit is rescaled to |a_1| + |a_2| = 1.
ReluSum interpolant(Activation act, FittedFunction which, const std::vector<double>& knots) {
  ReluSum fit;
  fit.knots = knots;
  fit.range = knots.back();
  fit.units.push_back({0.0, 1.0, evaluate(act, which, knots.front())});
  double previous_slope = 0;
  for (std::size_t m = 0; m + 1 < knots.size(); ++m) {
    const double slope = (evaluate(act, which, knots[m + 1]) - evaluate(act, which, knots[m])) / (knots[m + 1] - knots[m]);
    const double scale = 1.0 + std::abs(knots[m]);
    fit.units.push_back({1.0 / scale, -knots[m] / scale, (slope - previous_slope) * scale});
    previous_slope = slope;
  }
  fit.error_bound = grid_error_bound(knots);
  return fit;
}

}  // namespace

double evaluate(Activation act, FittedFunction which, double t) {
  return which == FittedFunction::r ? activate(act, t) : derivative(act, t);
}

double ReluSum::operator()(double t) const {
  double sum = 0;
  for (const auto& u : units) sum += u.coefficient * std::max(0.0, u.slope * t + u.shift);
  return sum;
}

double ReluSum::coefficient_sum() const {
  double C = 0;
  for (const auto& u : units) C += std::abs(u.coefficient);
  return C;
}

void FitTarget::validate() const {
  // A value is given when it is not 0: a negative one is given, and wrong.
  const bool by_tolerance = tolerance != 0, by_units = units != 0;
  if (by_tolerance == by_units)
    throw InvalidArgument("fit_tolerance", "give exactly one of fit_tolerance (> 0) and relu_units (>= 3)");
  if (by_units) require_count("relu_units", units, Quantity::units);
  if (by_tolerance && !(tolerance > 0 && std::isfinite(tolerance)))
    throw InvalidArgument("fit_tolerance", "must be finite and > 0, got " + number_text(tolerance));
  // About 4 / sqrt(8 tau) knots reach tolerance tau on any range (header):
  // refuse before building a grid that the unit limit would not allow.
  if (by_tolerance && 4 / std::sqrt(8 * tolerance) > double(limit(Quantity::units).max))
    throw InvalidArgument("fit_tolerance", "tolerance " + number_text(tolerance) + " needs about " +
                                               number_text(4 / std::sqrt(8 * tolerance)) +
                                               " ReLU units per fit, over the limit of " +
                                               std::to_string(limit(Quantity::units).max));
}

ReluSum fit_relu_sum(Activation act, FittedFunction which, double range, const FitTarget& target) {
  target.validate();
  if (!(range > 0) || !std::isfinite(range)) throw InvalidArgument("range", "must be finite and > 0");
  if (target.tolerance > 0) {
    const auto cap = std::size_t(limit(Quantity::units).max);
    auto knots = symmetric_grid(range, target.tolerance, cap);
    if (knots.size() > cap)
      throw InvalidArgument("fit_tolerance", "needs more than " + std::to_string(cap) + " units on [-" +
                                                 std::to_string(range) + ", " + std::to_string(range) + "]");
    return interpolant(act, which, knots);
  }
  // units = knots = 2m + 1 is non-increasing in tau: bisect on log tau.
  double lo = -40, hi = std::log(range * range);  // tau = e^hi gives a single cell per side
  for (int it = 0; it < 100; ++it) {
    const double mid = 0.5 * (lo + hi);
    const auto cap = std::size_t(target.units);
    (symmetric_grid(range, std::exp(mid), cap).size() <= cap ? hi : lo) = mid;
  }
  return interpolant(act, which, symmetric_grid(range, std::exp(hi)));
}

double measured_error(const ReluSum& fit, Activation act, FittedFunction which, int samples) {
  double worst = 0;
  for (int s = 0; s < samples; ++s) {
    const double t = -fit.range + 2.0 * fit.range * s / (samples - 1);
    worst = std::max(worst, std::abs(fit(t) - evaluate(act, which, t)));
  }
  return worst;
}

}  // namespace lorafgc::icl
