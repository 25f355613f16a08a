#include <lorafgc/core/checks.hpp>
#include "icl/network_columns.hpp"
#include <lorafgc/icl/network.hpp>

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
  if (layers < 1) throw InvalidArgument("N", "the network needs at least one layer, got " + std::to_string(layers));
  if (width < 1) throw InvalidArgument("K", "the hidden width must be >= 1, got " + std::to_string(width));
  if (input_dim < 1) throw InvalidArgument("d", "the input dimension must be >= 1, got " + std::to_string(input_dim));
  if (output_dim < 1)
    throw InvalidArgument("d_out", "the output dimension must be >= 1, got " + std::to_string(output_dim));
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
  if (X.rows() < 1) throw InvalidArgument("X", "needs at least one example");
  require_shape("Y", Y, X.rows(), shape.output_dim);
  require_finite("X", X);
  require_finite("Y", Y);
}

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
  return detail::predict_columns(shape, act, w, X.transpose()).transpose();
}

double empirical_loss(const NetworkShape& shape, Activation act, const Eigen::VectorXd& w,
                      const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y) {
  validate_data(shape, w, X, Y);
  const Eigen::MatrixXd Yt = Y.transpose();
  return (detail::predict_columns(shape, act, w, X.transpose()) - Yt).squaredNorm() / (2.0 * double(X.rows()));
}

Eigen::VectorXd loss_gradient(const NetworkShape& shape, Activation act, const Eigen::VectorXd& w,
                              const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y) {
  validate_data(shape, w, X, Y);
  return detail::loss_gradient_columns(shape, act, w, X.transpose(), Y.transpose());
}

}  // namespace lorafgc::icl
