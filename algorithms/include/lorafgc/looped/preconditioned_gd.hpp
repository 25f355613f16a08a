#pragma once
// Explicit gradient descent on the in-context least-squares loss, written from
// the recursion rather than the transformer: the reference the looped model is
// checked and compared against.
//     w_{t+1} = w_t + (1/n) A X^T (y - X (w_t - u)),  w_0 = 0.
// (u = 0: preconditioned GD with preconditioner A.)
#include <lorafgc/looped/looped_transformer.hpp>
#include <lorafgc/looped/regression_task.hpp>

#include <vector>

namespace lorafgc::looped {

// w_0, ..., w_T.
std::vector<Eigen::VectorXd> gd_iterates(const RegressionTask& task, const LoopedParameters& params,
                                         int loops);

// E over the query, exactly: E[(<w_T, x_q> - <w*, x_q>)^2] = (w_T - w*)^T Sigma (w_T - w*),
// averaged over the tasks and divided by E[y^2] = d. One value per loop count
// 0..loops (index t: the loss after t steps). Costs O(n d^2 + T d^2) per task.
std::vector<double> normalized_test_losses(const std::vector<RegressionTask>& tasks,
                                           const Eigen::MatrixXd& sigma,
                                           const LoopedParameters& params, int loops);
// The same from the tasks' moments, for a shared or per-layer stack (O(d^3) per
// task and layer to form A_l S, then O(d^2) per loop; a stack of T layers gives
// losses for 0..T loops only).
std::vector<double> normalized_test_losses(const std::vector<TaskMoments>& tasks, const Eigen::MatrixXd& sigma,
                                           const LayerStack& stack, int loops);

struct StepSearch {
  double scale = 0;                // the optimal a in A = a * base
  std::vector<double> loss;        // normalised test loss after 0..T steps at that a
};

// Minimises the T-step loss over a in A = a * base (u = 0) by golden-section
// search on log a, on one fixed task set (common random numbers: the same
// tasks for every a, so the search sees a smooth function). base = Sigma^{-1}
// gives optimally preconditioned GD, base = I plain GD.
StepSearch best_step(const std::vector<RegressionTask>& tasks, const Eigen::MatrixXd& sigma,
                     const Eigen::MatrixXd& base, int loops);
StepSearch best_step(const std::vector<TaskMoments>& tasks, const Eigen::MatrixXd& sigma,
                     const Eigen::MatrixXd& base, int loops);

// min_c ||A - c B||_F / ||A||_F, c = <A, B> / <B, B>: 0 when A is a multiple of B.
double relative_distance_to_multiple(const Eigen::MatrixXd& A, const Eigen::MatrixXd& B);

}  // namespace lorafgc::looped
