#pragma once
// The training objective of the looped transformer and its exact gradient,
//     loss = mean over prompts of (yhat - y_q)^2,  yhat = -Z_T(d, n),
// computed two ways:
//   Transformer: reverse-mode through the T loops of the layer in its linear
//     form with general P and Q (O(T n d^2) per prompt, every Z_t kept), then
//     restricted to the trained entries: dA = (dQ_11)^T, du = dP(d, 0:d)^T.
//   Reduced: reverse-mode through the loop's exact d-dimensional state,
//     w_{t+1} = (I - A S) w_t + A (b + S u), yhat = <w_T, x_q>, with
//     S = X^T X / n, b = X^T y / n formed once (O(n d^2 + T d^2) per prompt).
//     The reduction holds for every A and u (see looped_transformer.hpp); the
//     tests check both against finite differences of the transformer itself.
#include <lorafgc/looped/looped_transformer.hpp>
#include <lorafgc/looped/regression_task.hpp>

#include <string>
#include <vector>

namespace lorafgc::looped {

struct LossGradient {
  double loss = 0;
  Eigen::MatrixXd dA;
  Eigen::VectorXd du;
};

enum class GradientMethod { Reduced, Transformer };
GradientMethod parse_gradient_method(const std::string& text);

LossGradient training_loss_gradient(const LoopedParameters& params, const std::vector<RegressionTask>& tasks,
                                    int loops, GradientMethod method = GradientMethod::Reduced);

// The reduced gradient from the tasks' moments for a shared or per-layer stack:
// grad[l] holds (dloss/dA_l, dloss/du_l). O(T d^2) per task.
struct StackGradient {
  double loss = 0;
  LayerStack grad;
};
StackGradient training_loss_gradient(const LayerStack& stack, const std::vector<TaskMoments>& tasks, int loops);

// The same loss without the gradient (through looped_prediction), for checks.
double training_loss(const LoopedParameters& params, const std::vector<RegressionTask>& tasks, int loops);

}  // namespace lorafgc::looped
