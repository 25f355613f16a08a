#pragma once
// The looped linear transformer of Gatmiry et al. (ICML 2024): one linear
// self-attention layer applied T times with shared weights,
//     Z <- Z - (1/n) P Z M (Z^T Q Z),    M = diag(1, ..., 1, 0),
// where M keeps the query column out of the keys. The trained parameters are
//     Q = [[A^T, 0], [0, 0]],   P = [[0, 0], [u^T, 1]],
// and the prediction is -Z_T(d, n), the negated query label slot.
//
// Why A^T in Q: entry (j, k) of Z^T Q Z is x_j^T Q_11 x_k, so the loop moves the
// label row by x_k^T Q_11^T X^T r / n; with Q_11 = A^T the loop is, for any A,
//     w_{t+1} = w_t + (1/n) A X^T (y - X (w_t - u)),  w_0 = 0,
// and the label slots hold y_i - <w_t, x_i> and -<w_t, x_q>. For symmetric A (every
// optimum: multiples of Sigma^{-1}) Q_11 = A^T = A, the paper's parameterisation.
#include <lorafgc/core/eigen.hpp>

#include <string>
#include <vector>

namespace lorafgc::looped {

struct LoopedParameters {
  Eigen::MatrixXd A;  // d x d preconditioner
  Eigen::VectorXd u;  // d, last row of P without its final 1
};

// Throws InvalidArgument("A"/"u") unless A is d x d, u has d entries, all finite.
void check_parameters(const LoopedParameters& params, int d);

// The weights of a T-layer linear transformer: one (A, u) shared by every loop
// (the looped model, size 1) or one per layer (size T, layer t acting at loop t;
// the non-looped comparison). Both run the same loop,
//     w_{t+1} = w_t + (1/n) A_t X^T (y - X (w_t - u_t)).
using LayerStack = std::vector<LoopedParameters>;

// Throws InvalidArgument("layers") unless the stack holds 1 or `loops` layers,
// and check_parameters on each.
void check_stack(const LayerStack& stack, int d, int loops);

// The layer acting at loop t.
inline const LoopedParameters& layer_at(const LayerStack& stack, int t) {
  return stack[stack.size() == 1 ? 0 : std::size_t(t)];
}

Eigen::MatrixXd attention_P(const LoopedParameters& params);
Eigen::MatrixXd attention_Q(const LoopedParameters& params);

// The two ways to evaluate P Z M Z^T Q Z:
//   quadratic: P Z M (Z^T Q Z), the attention matrix (n+1) x (n+1) first, O(n^2 d);
//   linear:    (P (Z M Z^T)) (Q Z), a (d+1) x (d+1) product first, O(n d^2).
enum class AttentionForm { Quadratic, Linear };
AttentionForm parse_attention_form(const std::string& text);
const char* to_string(AttentionForm form);

// T loops of the layer with general (d+1) x (d+1) weights P and Q on the
// (d+1) x (n+1) prompt Z; n is Z.cols() - 1.
Eigen::MatrixXd looped_forward(const Eigen::MatrixXd& Z, const Eigen::MatrixXd& P,
                               const Eigen::MatrixXd& Q, int loops, AttentionForm form);

// -Z_T(d, n) for the trained parameterisation.
double looped_prediction(const LoopedParameters& params, const Eigen::MatrixXd& Z, int loops,
                         AttentionForm form = AttentionForm::Linear);

}  // namespace lorafgc::looped
