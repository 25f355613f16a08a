#pragma once
// The explicit (2N+4)L-layer ReLU transformer of Wu et al. (ICML 2025,
// Theorem 1) that runs L steps of projected gradient descent on the N-layer
// network of Definition 1, in context. Token i (column i of H) is
//     h_i = [x_i; y_i; w; p_i(1..N); r'_i; g_i; s_i(1..N); 1; t_i]
// (t_i = 1 for the n examples, 0 for the query, whose y slot is 0). One block:
//   N ReLU-attention layers      p_i(j)[k]    ~ r(v_jk^T p_i(j-1))        (Lemma 2)
//   1 ReLU-attention layer       r'_i(j-1)[k] ~ r'(v_jk^T p_i(j-1))       (Lemma 3)
//   1 MLP                        g_i = t_i * 2 (p_i(N) - y_i)             (Lemma 4)
//   N EWML layers                s_i(N) = r'_i(N-1) (.) g_i,
//                                s_i(j) = r'_i(j-1) (.) (V_{j+1}^T s_i(j+1)) (Lemma 5)
//   1 ReLU-attention layer       w <- w - eta/(2n) sum_i s_i(j) p_i(j-1)^T  (update)
//   1 MLP                        w <- clip(w, -b, b), scratch slots <- 0  (projection)
// r and r' are sums of ReLUs fitted on the ranges the a-priori bounds below
// give; the loss derivative, the products, the update and the projection are
// exact in exact arithmetic (u = 2(t - y) and clip are sums of two ReLUs).
// After the L blocks, N more attention layers (the forward layers again)
// compute the query's prediction f(w^L, x_q): the readout.
//
// The transformer never calls the direct-training code: it is built from the
// configuration alone, and run() is apply_layer() over the layer list.
#include <lorafgc/icl/network.hpp>
#include <lorafgc/icl/relu_sum.hpp>
#include <lorafgc/icl/transformer_layers.hpp>

#include <memory>
#include <vector>

namespace lorafgc::icl {

struct IcgdConfig {
  NetworkShape shape;
  Activation activation = Activation::softplus;
  int examples = 16;          // n, the in-context examples (the query is token n+1)
  double eta = 0.1;           // step size
  double radius = 1.0;        // b: W = { |w_m| <= b }
  double input_bound = 1.0;   // B_x: every |x_i[l]| <= B_x (query included)
  double label_bound = 1.0;   // B_y: every |y_i[l]| <= B_y
  int steps = 1;              // L, the GD steps (blocks)
  // Exactly one of: fit.tolerance (per ReLU sum), fit.units (per ReLU sum), or
  // gradient_accuracy (the a-priori bound on ||grad error||_2 to reach).
  FitTarget fit;
  double gradient_accuracy = 0;

  void validate() const;  // InvalidArgument naming the field
};

// Where each slot starts in a token.
struct TokenLayout {
  Eigen::Index x = 0, y = 0, w = 0, p = 0, r_prime = 0, g = 0, s = 0, one = 0, t = 0, dim = 0;
  std::vector<Eigen::Index> unit_offset;  // unit_offset[j]: start of layer j's units within p, r', s blocks
  Eigen::Index p_of(int j) const { return j == 0 ? x : p + unit_offset[j]; }
  Eigen::Index r_prime_of(int j) const { return r_prime + unit_offset[j]; }  // r'(j-1), layer j's units
  Eigen::Index s_of(int j) const { return s + unit_offset[j]; }
};

// A-priori ranges (Lemmas 2-4 in the box norms) and error budget (Lemmas 2-6,
// infinity-norm per entry). Index j = 0..N; entry 0 is the input where it applies.
struct IcgdBounds {
  std::vector<double> preactivation;  // R_j >= |v_jk^T p(j-1)|, j = 1..N (entry 0 unused)
  std::vector<double> activation;     // B_p(j) >= |p(j)|, |p_hat(j)|; B_p(0) = B_x
  double fit_range = 0;               // max_j R_j: where r and r' are fitted
  double loss_range = 0;              // R_3 = B_p(N) + B_y >= |p_hat(N) - y|
  std::vector<double> forward_error;  // delta_j >= |p_hat(j) - p(j)|
  std::vector<double> r_prime_error;  // rho_j >= |r'_hat(j-1) - r'(j-1)|
  std::vector<double> backward_bound; // B_s(j) >= |s(j)|
  std::vector<double> backward_error; // sigma_j >= |s_hat(j) - s(j)|
  double gradient_error = 0;          // eps >= ||grad_hat - grad||_2; one step errs by <= eta eps
};

struct IcgdRun {
  std::vector<Eigen::VectorXd> w;  // w^0 .. w^L, read from the query token after each block
  Eigen::VectorXd prediction;      // f(w^L, x_query) from the readout
  double flops = 0;                // executed by apply_layer, all layers
};

class IcgdTransformer {
 public:
  explicit IcgdTransformer(const IcgdConfig& config);

  const IcgdConfig& config() const { return config_; }
  const TokenLayout& layout() const { return layout_; }
  const IcgdBounds& bounds() const { return bounds_; }
  const ReluSum& fit_r() const { return fit_r_; }
  const ReluSum& fit_r_prime() const { return fit_r_prime_; }

  // (2N+4)L gradient-descent layers, then N readout layers. Blocks share weights.
  const std::vector<std::shared_ptr<const Layer>>& layers() const { return layers_; }
  int gd_layer_count() const { return int(layers_.size()) - config_.shape.layers; }
  int block_layer_count() const { return 2 * config_.shape.layers + 4; }

  // H0 = [h_1 .. h_n, h_query], one token per column. X is n x d, Y n x d_out
  // (examples as rows, as everywhere). Inputs outside the
  // bounds the ReLU sums were fitted for raise InvalidArgument naming X, Y,
  // x_query or w0.
  Eigen::MatrixXd prompt(const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y, const Eigen::VectorXd& x_query,
                         const Eigen::VectorXd& w0) const;
  IcgdRun run(const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y, const Eigen::VectorXd& x_query,
              const Eigen::VectorXd& w0) const;
  // Runs an already-built token matrix: no input checks, only the layers' own
  // range guards (used to test that the guards catch what the checks would).
  IcgdRun run_tokens(Eigen::MatrixXd H) const;

  // Cost of one GD block on the configured prompt length.
  double block_flops() const;
  double block_dense_flops() const;
  std::size_t block_heads() const;      // attention and EWML heads in one block
  std::size_t max_heads_per_layer() const;

 private:
  IcgdConfig config_;
  TokenLayout layout_;
  IcgdBounds bounds_;
  ReluSum fit_r_, fit_r_prime_;
  std::vector<std::shared_ptr<const Layer>> layers_;
};

}  // namespace lorafgc::icl
