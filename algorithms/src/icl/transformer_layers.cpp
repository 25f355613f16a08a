#include <lorafgc/core/errors.hpp>
#include <lorafgc/icl/transformer_layers.hpp>

#include <cmath>
#include <sstream>

namespace lorafgc::icl {
namespace {

// <Q h_i, K h_i> for every token i.
Eigen::VectorXd token_inner_products(const SparseRows& Q, const SparseRows& K, const Eigen::MatrixXd& H) {
  const Eigen::MatrixXd QH = Q * H, KH = K * H;
  return QH.cwiseProduct(KH).colwise().sum().transpose();
}

void check_guards(const Layer& layer, const Eigen::MatrixXd& H) {
  for (const auto& g : layer.guards) {
    const Eigen::VectorXd z = token_inner_products(g.query, g.key, H);
    Eigen::Index token;
    const double worst = z.cwiseAbs().maxCoeff(&token);
    if (!(worst <= g.bound * (1 + 1e-9))) {
      std::ostringstream msg;
      msg << "layer '" << layer.role << "': " << g.what << " = " << z(token) << " at token " << token
          << " lies outside [-" << g.bound << ", " << g.bound
          << "], the range its ReLU sum was fitted on; the transformer's output would be silently wrong";
      throw NumericalError(msg.str());
    }
  }
}

void scatter_add(Eigen::MatrixXd& out, const std::vector<int>& rows, const Eigen::MatrixXd& values) {
  for (std::size_t r = 0; r < rows.size(); ++r) out.row(rows[r]) += values.row(Eigen::Index(r));
}

// Heads are independent: each thread accumulates into its own copy.
template <class HeadUpdate>
Eigen::MatrixXd sum_over_heads(const Layer& layer, const Eigen::MatrixXd& H, HeadUpdate update) {
  Eigen::MatrixXd out = H;
#pragma omp parallel
  {
    Eigen::MatrixXd delta = Eigen::MatrixXd::Zero(H.rows(), H.cols());
#pragma omp for schedule(dynamic, 16) nowait
    for (std::size_t h = 0; h < layer.heads.size(); ++h) update(layer.heads[h], delta);
#pragma omp critical
    out += delta;
  }
  return out;
}

Eigen::MatrixXd relu_attention(const Layer& layer, const Eigen::MatrixXd& H) {
  const double inv_tokens = 1.0 / double(H.cols());
  return sum_over_heads(layer, H, [&](const Head& head, Eigen::MatrixXd& delta) {
    const Eigen::MatrixXd QH = head.query * H, KH = head.key * H;
    const Eigen::MatrixXd scores = (QH.transpose() * KH).cwiseMax(0.0);  // scores(i, s)
    const Eigen::MatrixXd VH = head.value * H;
    scatter_add(delta, head.value_rows, inv_tokens * (VH * scores.transpose()));
  });
}

Eigen::MatrixXd elementwise_multiplication(const Layer& layer, const Eigen::MatrixXd& H) {
  return sum_over_heads(layer, H, [&](const Head& head, Eigen::MatrixXd& delta) {
    const Eigen::VectorXd gate = token_inner_products(head.query, head.key, H);
    const Eigen::MatrixXd VH = head.value * H;
    scatter_add(delta, head.value_rows, VH * gate.asDiagonal());
  });
}

Eigen::MatrixXd mlp(const Layer& layer, const Eigen::MatrixXd& H) {
  const Eigen::MatrixXd hidden = (layer.w1 * H).cwiseMax(0.0);
  return H + layer.w2 * hidden;
}

}  // namespace

std::string layer_kind_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::relu_attention: return "relu_attention";
    case LayerKind::mlp: return "mlp";
    case LayerKind::elementwise_multiplication: return "elementwise_multiplication";
  }
  return "unknown";
}

Eigen::MatrixXd apply_layer(const Layer& layer, const Eigen::MatrixXd& H) {
  check_guards(layer, H);
  switch (layer.kind) {
    case LayerKind::relu_attention: return relu_attention(layer, H);
    case LayerKind::elementwise_multiplication: return elementwise_multiplication(layer, H);
    case LayerKind::mlp: return mlp(layer, H);
  }
  throw InvalidArgument("layer", "unknown layer kind");
}

double layer_flops(const Layer& layer, Eigen::Index D, Eigen::Index tokens) {
  const double t = double(tokens);
  if (layer.kind == LayerKind::mlp)
    return 2.0 * t * double(layer.w1.nonZeros() + layer.w2.nonZeros()) + t * (layer.hidden() + D);
  double total = 0;
  for (const auto& h : layer.heads) {
    const double m = double(h.query.rows()), r = double(h.value_rows.size());
    const double projections = 2.0 * t * double(h.query.nonZeros() + h.key.nonZeros() + h.value.nonZeros());
    total += layer.kind == LayerKind::relu_attention
                 ? projections + 2.0 * m * t * t + t * t + 2.0 * r * t * t + r * t
                 : projections + 2.0 * m * t + 2.0 * r * t;
  }
  return total + double(D) * t;  // the residual sum
}

double dense_layer_flops(const Layer& layer, Eigen::Index D, Eigen::Index tokens) {
  const double d = double(D), t = double(tokens);
  if (layer.kind == LayerKind::mlp) return 4.0 * d * layer.hidden() * t + t * (layer.hidden() + d);
  const double per_head = layer.kind == LayerKind::relu_attention
                              ? 3.0 * 2.0 * d * d * t + 2.0 * d * t * t + t * t + 2.0 * d * t * t
                              : 3.0 * 2.0 * d * d * t + 2.0 * d * t + d * t;
  return double(layer.heads.size()) * per_head + d * t;
}

}  // namespace lorafgc::icl
