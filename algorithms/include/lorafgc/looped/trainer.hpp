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
  int batch = 256;             // fresh tasks per step
  std::string optimizer = "adam";  // "adam" or "sgd"
  std::string gradient = "reduced";  // "reduced" or "transformer" (training_loss.hpp)
  // "moments": draw each task's S, b directly (RegressionTaskSampler::sample_moments,
  // O(d^3) per task whatever n); "prompts": draw X and y (O(n d^2)); the
  // transformer gradient needs the prompts.
  std::string sampler = "moments";
  bool weight_sharing = true;  // false: T layers, each with its own (A, u)
  bool train_u = true;         // false: u stays 0 (the gradient flow the paper analyses)
  bool symmetric = false;      // true: A stays symmetric (its gradient symmetrised), the paper's Q_11 = A
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
  double distance = 0;      // relative distance of A to the nearest multiple of Sigma^{-1} (mean over layers)
  double u_norm = 0;        // root mean square over layers
};

struct TrainingResult {
  LoopedParameters params;  // layers[0]: the looped model's shared weights (with weight_sharing)
  LayerStack layers;        // 1 layer, or T without weight sharing
  std::vector<CurvePoint> curve;
  double test_loss = 0;     // fresh test tasks, exact over the query, / E[y^2]
  double seconds = 0;
};

TrainingResult train_looped(int d, int n, const Eigen::MatrixXd& sigma, int loops,
                            const TrainerOptions& options);

}  // namespace lorafgc::looped
