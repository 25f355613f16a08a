#pragma once
// Trains A and u of the looped transformer on fresh tasks each step (the
// population loss, estimated by minibatches), with exact gradients from
// training_loss_gradient. Adam with a cosine learning-rate decay by default;
// plain SGD (constant step, the discrete analogue of the gradient flow the
// paper analyses) on request.
#include <lorafgc/looped/looped_transformer.hpp>
#include <lorafgc/looped/regression_task.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace lorafgc::looped {

struct TrainerOptions {
  int steps = 2000;
  int batch = 256;             // fresh prompts per step
  std::string optimizer = "adam";  // "adam" or "sgd"
  std::string gradient = "reduced";  // "reduced" or "transformer" (training_loss.hpp)
  double learning_rate = 0.01;
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;  // Adam
  bool cosine_decay = true;    // lr_t = lr (1 + cos(pi t / steps)) / 2
  double init_scale = 0.1;     // A_0, u_0 entries ~ N(0, init_scale^2 / d)
  int eval_every = 25;         // steps between evaluations on the fixed eval set
  int eval_tasks = 2000;
  int test_tasks = 20000;
  std::uint64_t seed = 1;
};

// Throws InvalidArgument naming the offending option.
void check_options(const TrainerOptions& options);

struct CurvePoint {
  int step = 0;
  double batch_loss = 0;    // training minibatch loss / E[y^2] (sampled queries)
  double eval_loss = 0;     // on the fixed eval set, exact over the query, / E[y^2]
  double distance = 0;      // relative distance of A to the nearest multiple of Sigma^{-1}
  double u_norm = 0;
};

struct TrainingResult {
  LoopedParameters params;
  std::vector<CurvePoint> curve;
  double test_loss = 0;     // fresh test tasks, exact over the query, / E[y^2]
  double seconds = 0;
};

TrainingResult train_looped(int d, int n, const Eigen::MatrixXd& sigma, int loops,
                            const TrainerOptions& options);

}  // namespace lorafgc::looped
