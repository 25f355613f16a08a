#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/icl/projected_gd.hpp>

#include "icl/network_columns.hpp"

#include <cmath>
#include <string>

namespace lorafgc::icl {

Eigen::VectorXd project_to_box(const Eigen::VectorXd& w, double radius) {
  return w.cwiseMax(-radius).cwiseMin(radius);
}

void validate_step(double eta, double radius) {
  if (!(eta > 0) || !std::isfinite(eta)) throw InvalidArgument("eta", "the step size must be finite and > 0");
  if (!(radius > 0) || !std::isfinite(radius))
    throw InvalidArgument("radius", "the projection radius must be finite and > 0");
}

std::vector<Eigen::VectorXd> projected_gd(const NetworkShape& shape, Activation act, const Eigen::VectorXd& w0,
                                          const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y, double eta,
                                          double radius, int steps) {
  validate_step(eta, radius);
  require_count("steps", steps, Quantity::steps);
  validate_data(shape, w0, X, Y);
  require_memory("steps", 8.0 * (double(steps) + 1) * double(w0.size()), "the path of " + std::to_string(steps) + " iterates");
  if (w0.lpNorm<Eigen::Infinity>() > radius)
    throw InvalidArgument("w0", "lies outside the domain W (max |w0| = " + std::to_string(w0.lpNorm<Eigen::Infinity>()) +
                                    " > radius " + std::to_string(radius) + ")");
  const Eigen::MatrixXd Xt = X.transpose(), Yt = Y.transpose();
  std::vector<Eigen::VectorXd> path{w0};
  for (int l = 0; l < steps; ++l)
    path.push_back(
        project_to_box(path.back() - eta * detail::loss_gradient_columns(shape, act, path.back(), Xt, Yt), radius));
  if (!path.back().allFinite())
    throw NumericalError("icl: projected GD produced a non-finite iterate: the inputs X or Y are too large");
  return path;
}

}  // namespace lorafgc::icl
