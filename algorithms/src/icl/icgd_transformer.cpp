#include "icgd_construction.hpp"

#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/icl/projected_gd.hpp>

#include <cmath>
#include <sstream>

namespace lorafgc::icl {
namespace {

void require_positive(double value, const char* name) {
  if (!(value > 0) || !std::isfinite(value)) throw InvalidArgument(name, "must be finite and > 0");
}

// Entries beyond the bound the ReLU sums were fitted for are refused: the
// transformer would run, but its output would not be gradient descent.
void require_within(const Eigen::MatrixXd& M, double bound, const char* name, const char* bound_name) {
  if (M.size() == 0) return;
  Eigen::Index r, col;
  const double worst = M.cwiseAbs().maxCoeff(&r, &col);
  if (worst > bound) {
    std::ostringstream msg;
    msg << "entry (" << r << ", " << col << ") = " << M(r, col) << " exceeds " << bound_name << " = " << bound
        << ", the bound the transformer's ReLU sums were fitted for";
    throw InvalidArgument(name, msg.str());
  }
}

}  // namespace

void IcgdConfig::validate() const {
  shape.validate();
  require_count("n", examples, Quantity::examples);
  validate_step(eta, radius);
  require_positive(input_bound, "input_bound");
  if (!(label_bound >= 0) || !std::isfinite(label_bound)) throw InvalidArgument("label_bound", "must be finite and >= 0");
  if (steps < 1) throw InvalidArgument("steps", "needs at least one GD step, got " + std::to_string(steps));
  require_count("steps", steps, Quantity::steps);
  // One pointer per layer of the unrolled list; the token matrix, and one copy per layer applied.
  require_memory("steps", 16.0 * ((2.0 * shape.layers + 4) * steps + shape.layers),
                 "the layer list of " + std::to_string(steps) + " GD blocks");
  require_memory("n", 8.0 * 4 * double(examples + 1) * (double(shape.parameter_count()) + 4.0 * shape.layers * shape.width + shape.input_dim),
                 "the token matrices of " + std::to_string(examples) + " examples");
  const int given = (fit.tolerance != 0) + (fit.units != 0) + (gradient_accuracy != 0);
  if (given != 1)
    throw InvalidArgument("fit_tolerance", "give exactly one of fit_tolerance, relu_units and gradient_accuracy");
  if (gradient_accuracy != 0) require_positive(gradient_accuracy, "gradient_accuracy");
  else fit.validate();
}

IcgdTransformer::IcgdTransformer(const IcgdConfig& config) : config_(config) {
  config_.validate();
  using namespace detail;
  const Fits fits = fit_activation_sums(config_);
  fit_r_ = fits.r;
  fit_r_prime_ = fits.r_prime;
  bounds_ = fits.bounds;
  layout_ = make_layout(config_.shape);
  const int N = config_.shape.layers;
  // Every head holds three small sparse matrices; refuse sizes that would
  // exhaust memory rather than fail midway.
  double heads = 0;
  for (int j = 1; j <= N; ++j) heads += double(config_.shape.units(j)) * double(fit_r_.units.size() + fit_r_prime_.units.size());
  if (heads > 2e7)
    throw InvalidArgument(config_.fit.units > 0 ? "relu_units" : "fit_tolerance",
                          "the fits need " + std::to_string(std::lround(heads)) +
                              " attention heads per block (at most 2e7 are built)");
  std::vector<std::shared_ptr<const Layer>> block;
  for (int j = 1; j <= N; ++j)
    block.push_back(std::make_shared<Layer>(forward_layer(config_, layout_, fits, j, "forward " + std::to_string(j))));
  block.push_back(std::make_shared<Layer>(r_prime_layer(config_, layout_, fits)));
  block.push_back(std::make_shared<Layer>(loss_derivative_layer(config_, layout_, fits)));
  for (int j = N; j >= 1; --j) block.push_back(std::make_shared<Layer>(backward_layer(config_, layout_, j)));
  block.push_back(std::make_shared<Layer>(update_layer(config_, layout_)));
  block.push_back(std::make_shared<Layer>(projection_layer(config_, layout_)));
  for (int l = 0; l < config_.steps; ++l) layers_.insert(layers_.end(), block.begin(), block.end());
  for (int j = 1; j <= N; ++j)
    layers_.push_back(std::make_shared<Layer>(forward_layer(config_, layout_, fits, j, "readout " + std::to_string(j))));
}

Eigen::MatrixXd IcgdTransformer::prompt(const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y,
                                        const Eigen::VectorXd& x_query, const Eigen::VectorXd& w0) const {
  const NetworkShape& s = config_.shape;
  validate_data(s, w0, X, Y);
  if (X.rows() != config_.examples)
    throw InvalidArgument("X", "the transformer was built for n = " + std::to_string(config_.examples) +
                                   " examples, got " + std::to_string(X.rows()));
  if (x_query.size() != s.input_dim || !x_query.allFinite())
    throw InvalidArgument("x_query", "expected " + std::to_string(s.input_dim) + " finite entries");
  require_within(X, config_.input_bound, "X", "input_bound");
  require_within(x_query, config_.input_bound, "x_query", "input_bound");
  require_within(Y, config_.label_bound, "Y", "label_bound");
  require_within(w0, config_.radius, "w0", "radius (w0 must lie in W)");

  const Eigen::Index n = X.rows();
  Eigen::MatrixXd H = Eigen::MatrixXd::Zero(layout_.dim, n + 1);
  H.block(layout_.x, 0, s.input_dim, n) = X.transpose();
  H.block(layout_.x, n, s.input_dim, 1) = x_query;
  H.block(layout_.y, 0, s.output_dim, n) = Y.transpose();
  H.block(layout_.w, 0, w0.size(), n + 1) = w0.replicate(1, n + 1);
  H.row(layout_.one).setOnes();
  H.row(layout_.t).head(n).setOnes();
  return H;
}

IcgdRun IcgdTransformer::run(const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y, const Eigen::VectorXd& x_query,
                             const Eigen::VectorXd& w0) const {
  return run_tokens(prompt(X, Y, x_query, w0));
}

IcgdRun IcgdTransformer::run_tokens(Eigen::MatrixXd H) const {
  if (H.rows() != layout_.dim || H.cols() != config_.examples + 1)
    throw InvalidArgument("H", "expected a " + std::to_string(layout_.dim) + " x " +
                                   std::to_string(config_.examples + 1) + " token matrix");
  const Eigen::Index Dw = config_.shape.parameter_count(), query = H.cols() - 1;
  IcgdRun out;
  out.w.push_back(H.block(layout_.w, query, Dw, 1));
  const int per_block = block_layer_count(), gd = gd_layer_count();
  for (int l = 0; l < int(layers_.size()); ++l) {
    out.flops += layer_flops(*layers_[l], H.rows(), H.cols());
    H = apply_layer(*layers_[l], H);
    if (l < gd && (l + 1) % per_block == 0) out.w.push_back(H.block(layout_.w, query, Dw, 1));
  }
  out.prediction = H.block(layout_.p_of(config_.shape.layers), query, config_.shape.output_dim, 1);
  // Inside the checked ranges the a-priori bounds keep everything finite; a
  // token matrix built by hand can still overflow.
  if (!out.prediction.allFinite() || !out.w.back().allFinite())
    throw NumericalError("icl: the transformer's output is not finite: the tokens H are too large");
  return out;
}

double IcgdTransformer::block_flops() const {
  double f = 0;
  for (int l = 0; l < block_layer_count(); ++l) f += layer_flops(*layers_[l], layout_.dim, config_.examples + 1);
  return f;
}

double IcgdTransformer::block_dense_flops() const {
  double f = 0;
  for (int l = 0; l < block_layer_count(); ++l) f += dense_layer_flops(*layers_[l], layout_.dim, config_.examples + 1);
  return f;
}

std::size_t IcgdTransformer::block_heads() const {
  std::size_t h = 0;
  for (int l = 0; l < block_layer_count(); ++l) h += layers_[l]->heads.size();
  return h;
}

std::size_t IcgdTransformer::max_heads_per_layer() const {
  std::size_t h = 0;
  for (int l = 0; l < block_layer_count(); ++l) h = std::max(h, layers_[l]->heads.size());
  return h;
}

}  // namespace lorafgc::icl
