#include <lorafgc/core/checks.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/icl/network.hpp>

#include "icl/network_columns.hpp"

#include <cmath>
#include <string>

namespace lorafgc::icl {
namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Eigen::MatrixXd apply(Activation act, const Eigen::MatrixXd& Z) {
  return Z.unaryExpr([act](double t) { return activate(act, t); });
}

Eigen::MatrixXd apply_derivative(Activation act, const Eigen::MatrixXd& Z) {
  return Z.unaryExpr([act](double t) { return derivative(act, t); });
}

}  // namespace

void NetworkShape::validate() const {
  require_count("N", layers, Quantity::layers);
  require_count("K", width, Quantity::width);
  require_count("d", input_dim, Quantity::width);
  require_count("d_out", output_dim, Quantity::width);
  require_memory(layers > width ? "N" : "K", 8.0 * double(parameter_count()),
                 "the parameters of " + std::to_string(layers) + " layers of width " + std::to_string(width));
}

int NetworkShape::fan_in(int j) const { return j == 1 ? input_dim : width; }
int NetworkShape::units(int j) const { return j == layers ? output_dim : width; }

Eigen::Index NetworkShape::offset(int j) const {
  Eigen::Index at = 0;
  for (int l = 1; l < j; ++l) at += Eigen::Index(units(l)) * fan_in(l);
  return at;
}

Eigen::Index NetworkShape::parameter_count() const { return offset(layers + 1); }

Eigen::Map<const RowMatrix> layer_matrix(const NetworkShape& shape, const Eigen::VectorXd& w, int j) {
  return Eigen::Map<const RowMatrix>(w.data() + shape.offset(j), shape.units(j), shape.fan_in(j));
}

void validate_data(const NetworkShape& shape, const Eigen::VectorXd& w, const Eigen::MatrixXd& X,
                   const Eigen::MatrixXd& Y) {
  shape.validate();
  if (w.size() != shape.parameter_count())
    throw InvalidArgument("w", "expected " + std::to_string(shape.parameter_count()) + " parameters, got " +
                                   std::to_string(w.size()));
  require_finite("w", w);
  require_shape("X", X, kAnySize, shape.input_dim);
  require_count("X", X.rows(), Quantity::examples);
  require_shape("Y", Y, X.rows(), shape.output_dim);
  require_finite("X", X);
  require_finite("Y", Y);
}

namespace {

// Finite inputs can still overflow (softplus of a huge pre-activation, squares
// of huge residuals): refuse rather than return Inf or NaN.
[[noreturn]] void not_finite(const char* what) {
  throw NumericalError(std::string("icl: ") + what +
                       " is not finite in float64: the inputs X, Y or the parameters w are too large");
}

template <class M>
M require_finite_output(const char* what, M value) {
  if (!value.allFinite()) not_finite(what);
  return value;
}

double require_finite_output(const char* what, double value) {
  if (!std::isfinite(value)) not_finite(what);
  return value;
}

}  // namespace

namespace detail {

Eigen::MatrixXd predict_columns(const NetworkShape& shape, Activation act, const Eigen::VectorXd& w,
                                const Eigen::MatrixXd& Xt) {
  Eigen::MatrixXd P = Xt;
  for (int j = 1; j <= shape.layers; ++j) P = apply(act, layer_matrix(shape, w, j) * P);
  return P;
}

Eigen::VectorXd loss_gradient_columns(const NetworkShape& shape, Activation act, const Eigen::VectorXd& w,
                                      const Eigen::MatrixXd& Xt, const Eigen::MatrixXd& Yt) {
  const int N = shape.layers;
  std::vector<Eigen::MatrixXd> P(N + 1), Rp(N + 1);  // P[j] = p(j), Rp[j] = r'_(j-1) at layer j
  P[0] = Xt;
  for (int j = 1; j <= N; ++j) {
    const Eigen::MatrixXd Z = layer_matrix(shape, w, j) * P[j - 1];
    P[j] = apply(act, Z);
    Rp[j] = apply_derivative(act, Z);
  }
  Eigen::VectorXd grad(shape.parameter_count());
  const double scale = 1.0 / (2.0 * double(Xt.cols()));
  Eigen::MatrixXd S = Rp[N].cwiseProduct(2.0 * (P[N] - Yt));  // s(N) for every example
  for (int j = N;; --j) {
    Eigen::Map<RowMatrix>(grad.data() + shape.offset(j), shape.units(j), shape.fan_in(j)) =
        scale * S * P[j - 1].transpose();
    if (j == 1) break;
    S = Rp[j - 1].cwiseProduct(layer_matrix(shape, w, j).transpose() * S);
  }
  return grad;
}

}  // namespace detail

Eigen::MatrixXd predict(const NetworkShape& shape, Activation act, const Eigen::VectorXd& w,
                        const Eigen::MatrixXd& X) {
  validate_data(shape, w, X, Eigen::MatrixXd::Zero(X.rows(), shape.output_dim));
  return require_finite_output("the prediction", detail::predict_columns(shape, act, w, X.transpose()).transpose());
}

double empirical_loss(const NetworkShape& shape, Activation act, const Eigen::VectorXd& w,
                      const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y) {
  validate_data(shape, w, X, Y);
  const Eigen::MatrixXd Yt = Y.transpose();
  return require_finite_output(
      "the loss", (detail::predict_columns(shape, act, w, X.transpose()) - Yt).squaredNorm() / (2.0 * double(X.rows())));
}

Eigen::VectorXd loss_gradient(const NetworkShape& shape, Activation act, const Eigen::VectorXd& w,
                              const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y) {
  validate_data(shape, w, X, Y);
  return require_finite_output("the gradient", detail::loss_gradient_columns(shape, act, w, X.transpose(), Y.transpose()));
}

}  // namespace lorafgc::icl
