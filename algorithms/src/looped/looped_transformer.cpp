#include <lorafgc/core/limits.hpp>
#include <lorafgc/core/checks.hpp>
#include <lorafgc/looped/looped_transformer.hpp>

namespace lorafgc::looped {

void check_parameters(const LoopedParameters& params, int d) {
  require_shape("A", params.A, d, d);
  require_shape("u", params.u, d, 1);
  require_finite("A", params.A);
  require_finite("u", params.u);
}

void check_stack(const LayerStack& stack, int d, int loops) {
  if (stack.size() != 1 && stack.size() != std::size_t(loops))
    throw InvalidArgument("layers", "must hold 1 (shared) or loops = " + std::to_string(loops) + " layers, got " +
                                        std::to_string(stack.size()));
  for (const auto& layer : stack) check_parameters(layer, d);
}

Eigen::MatrixXd attention_P(const LoopedParameters& params) {
  const auto d = params.A.rows();
  Eigen::MatrixXd P = Eigen::MatrixXd::Zero(d + 1, d + 1);
  P.bottomLeftCorner(1, d) = params.u.transpose();
  P(d, d) = 1;
  return P;
}

Eigen::MatrixXd attention_Q(const LoopedParameters& params) {
  const auto d = params.A.rows();
  Eigen::MatrixXd Q = Eigen::MatrixXd::Zero(d + 1, d + 1);
  Q.topLeftCorner(d, d) = params.A.transpose();
  return Q;
}

AttentionForm parse_attention_form(const std::string& text) {
  if (text == "quadratic") return AttentionForm::Quadratic;
  if (text == "linear") return AttentionForm::Linear;
  throw InvalidArgument("form", "expected 'quadratic' or 'linear', got '" + text + "'");
}

const char* to_string(AttentionForm form) {
  return form == AttentionForm::Quadratic ? "quadratic" : "linear";
}

Eigen::MatrixXd looped_forward(const Eigen::MatrixXd& Z0, const Eigen::MatrixXd& P,
                               const Eigen::MatrixXd& Q, int loops, AttentionForm form) {
  const auto rows = Z0.rows(), n = Z0.cols() - 1;
  if (n < 1) throw InvalidArgument("Z", "needs at least one example column and the query column");
  require_shape("P", P, rows, rows);
  require_shape("Q", Q, rows, rows);
  require_count("loops", loops, Quantity::loops);
  require_finite("Z", Z0);
  require_finite("P", P);
  require_finite("Q", Q);
  Eigen::MatrixXd Z = Z0;
  const double scale = 1.0 / double(n);
  for (int t = 0; t < loops; ++t) {
    const auto keys = Z.leftCols(n);  // Z M drops the query column
    if (form == AttentionForm::Linear) {
      const Eigen::MatrixXd kernel = P * (keys * keys.transpose());  // (d+1) x (d+1)
      const Eigen::MatrixXd update = kernel * (Q * Z);
      Z -= scale * update;
    } else {
      const Eigen::MatrixXd scores = keys.transpose() * (Q * Z);  // n x (n+1)
      const Eigen::MatrixXd update = (P * keys) * scores;
      Z -= scale * update;
    }
  }
  // Finite inputs can overflow over many loops; Inf and NaN stay, so one check
  // at the end catches it.
  if (!Z.allFinite())
    throw NumericalError("looped_forward: Z is not finite after " + std::to_string(loops) +
                         " loops: the prompt Z or the weights P, Q are too large for so many loops");
  return Z;
}

double looped_prediction(const LoopedParameters& params, const Eigen::MatrixXd& Z, int loops,
                         AttentionForm form) {
  check_parameters(params, int(Z.rows()) - 1);
  const Eigen::MatrixXd out = looped_forward(Z, attention_P(params), attention_Q(params), loops, form);
  return -out(out.rows() - 1, out.cols() - 1);
}

}  // namespace lorafgc::looped
