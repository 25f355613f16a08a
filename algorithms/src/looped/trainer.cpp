#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/looped/preconditioned_gd.hpp>
#include <lorafgc/looped/trainer.hpp>
#include <lorafgc/looped/training_loss.hpp>

#include <chrono>
#include <cmath>
#include <random>

namespace lorafgc::looped {
namespace {

void require(bool ok, const char* name, const std::string& what) {
  if (!ok) throw InvalidArgument(name, what);
}

// Independent streams for training, evaluation, test and initialisation.
std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Layer 0 starts where the looped model starts; further layers continue the stream.
LayerStack initial_parameters(int d, int layers, const TrainerOptions& options) {
  std::mt19937_64 rng(stream_seed(options.seed, 3));
  std::normal_distribution<double> normal(0.0, options.init_scale / std::sqrt(double(d)));
  LayerStack stack;
  for (int l = 0; l < layers; ++l) {
    LoopedParameters p{Eigen::MatrixXd(d, d), Eigen::VectorXd(d)};
    for (int j = 0; j < d; ++j)
      for (int i = 0; i < d; ++i) p.A(i, j) = normal(rng);
    // Symmetric: the loss is nearly flat along antisymmetric directions, so an
    // antisymmetric start would persist and hide whether A approaches c Sigma^{-1}.
    p.A = (0.5 * (p.A + p.A.transpose())).eval();
    for (int i = 0; i < d; ++i) p.u[i] = normal(rng);
    if (!options.train_u) p.u.setZero();
    stack.push_back(std::move(p));
  }
  return stack;
}

// Adam's moments for each layer's A and u, or plain SGD. u stays put unless trained.
class Optimizer {
 public:
  Optimizer(const TrainerOptions& options, const LayerStack& stack)
      : o_(options), m_(stack.size(), {Eigen::MatrixXd::Zero(stack[0].A.rows(), stack[0].A.cols()),
                                       Eigen::VectorXd::Zero(stack[0].u.size())}), v_(m_) {}

  void step(LayerStack& stack, const LayerStack& grad, int t) {
    const double pi = std::acos(-1.0);
    const double lr = o_.cosine_decay ? o_.learning_rate * 0.5 * (1 + std::cos(pi * t / o_.steps))
                                      : o_.learning_rate;
    for (std::size_t l = 0; l < stack.size(); ++l) {
      if (o_.optimizer == "sgd") {
        stack[l].A -= lr * grad[l].A;
        if (o_.train_u) stack[l].u -= lr * grad[l].u;
        continue;
      }
      update(stack[l].A, m_[l].A, v_[l].A, grad[l].A, lr, t + 1);
      if (o_.train_u) update(stack[l].u, m_[l].u, v_[l].u, grad[l].u, lr, t + 1);
    }
  }

 private:
  template <class M>
  void update(M& x, M& m, M& v, const M& g, double lr, int count) {
    m = o_.beta1 * m + (1 - o_.beta1) * g;
    v = o_.beta2 * v + (1 - o_.beta2) * g.cwiseProduct(g);
    const double c1 = 1 - std::pow(o_.beta1, count), c2 = 1 - std::pow(o_.beta2, count);
    x.array() -= lr * (m.array() / c1) / ((v.array() / c2).sqrt() + o_.epsilon);
  }

  TrainerOptions o_;
  LayerStack m_, v_;  // Adam's first and second moments, shaped like the stack
};

// The stack's gradient on one batch, by the method and sampler the options name.
StackGradient batch_gradient(const LayerStack& stack, RegressionTaskSampler& sampler, int loops,
                             const TrainerOptions& o) {
  if (o.sampler == "moments") return training_loss_gradient(stack, sampler.sample_moments(o.batch), loops);
  const auto batch = sampler.sample(o.batch);
  if (o.gradient == "reduced") return training_loss_gradient(stack, moments_of(batch), loops);
  LossGradient g = training_loss_gradient(stack[0], batch, loops, GradientMethod::Transformer);
  return {g.loss, {{std::move(g.dA), std::move(g.du)}}};
}

// The gradient restricted to symmetric A: its projection (dA + dA^T) / 2.
LayerStack symmetrised(LayerStack grad) {
  for (auto& l : grad) l.A = (0.5 * (l.A + l.A.transpose())).eval();
  return grad;
}

bool all_finite(const StackGradient& g) {
  bool ok = std::isfinite(g.loss);
  for (const auto& l : g.grad) ok = ok && l.A.allFinite() && l.u.allFinite();
  return ok;
}

CurvePoint curve_point(int step, double batch_loss, const LayerStack& stack,
                       const std::vector<TaskMoments>& eval_set, const RegressionTaskSampler& sampler, int loops) {
  CurvePoint point;
  point.step = step;
  point.batch_loss = batch_loss / sampler.label_second_moment();
  point.eval_loss = normalized_test_losses(eval_set, sampler.sigma(), stack, loops).back();
  for (const auto& l : stack) {
    point.distance += relative_distance_to_multiple(l.A, sampler.sigma_inverse()) / double(stack.size());
    point.u_norm += l.u.squaredNorm() / double(stack.size());
  }
  point.u_norm = std::sqrt(point.u_norm);
  return point;
}

}  // namespace

void check_options(const TrainerOptions& o) {
  require(o.steps >= 1, "steps", "must be >= 1, got " + std::to_string(o.steps));
  require_count("steps", o.steps, Quantity::steps);
  require_count("batch", o.batch, Quantity::batch);
  require(o.optimizer == "adam" || o.optimizer == "sgd", "optimizer",
          "expected 'adam' or 'sgd', got '" + o.optimizer + "'");
  parse_gradient_method(o.gradient);
  require(o.sampler == "moments" || o.sampler == "prompts", "sampler",
          "expected 'moments' or 'prompts', got '" + o.sampler + "'");
  require(o.gradient == "reduced" || o.sampler == "prompts", "sampler",
          "must be 'prompts' for gradient 'transformer' (it differentiates through the prompt)");
  require(o.gradient == "reduced" || o.weight_sharing, "weight_sharing",
          "must be true for gradient 'transformer' (it differentiates the looped layer)");
  require(std::isfinite(o.learning_rate) && o.learning_rate > 0, "learning_rate", "must be > 0");
  require(o.beta1 >= 0 && o.beta1 < 1, "beta1", "must lie in [0, 1)");
  require(o.beta2 >= 0 && o.beta2 < 1, "beta2", "must lie in [0, 1)");
  require(o.epsilon > 0, "epsilon", "must be > 0");
  require(std::isfinite(o.init_scale) && o.init_scale >= 0, "init_scale", "must be >= 0");
  require(o.eval_every >= 1, "eval_every", "must be >= 1");
  require_count("eval_tasks", o.eval_tasks, Quantity::tasks);
  require_count("test_tasks", o.test_tasks, Quantity::tasks);
  require_memory("steps", sizeof(CurvePoint) * (double(o.steps) / o.eval_every + 2),
                 "the training curve of " + std::to_string(o.steps) + " steps");
}

TrainingResult train_looped(int d, int n, const Eigen::MatrixXd& sigma, int loops,
                            const TrainerOptions& options) {
  check_options(options);
  if (loops < 1) throw InvalidArgument("loops", "must be >= 1, got " + std::to_string(loops));
  require_count("loops", loops, Quantity::loops);
  RegressionTaskSampler train(d, n, sigma, stream_seed(options.seed, 0));
  if (options.sampler == "prompts")
    require_memory("batch", 8.0 * options.batch * (double(n) * (d + 1) + 2.0 * d + 1),
                   "a batch of " + std::to_string(options.batch) + " prompts");
  const auto eval_set =
      RegressionTaskSampler(d, n, sigma, stream_seed(options.seed, 1)).sample_moments(options.eval_tasks);
  const auto start = std::chrono::steady_clock::now();
  TrainingResult result;
  result.layers = initial_parameters(d, options.weight_sharing ? 1 : loops, options);
  Optimizer optimizer(options, result.layers);
  for (int t = 0; t <= options.steps; ++t) {
    const StackGradient g = batch_gradient(result.layers, train, loops, options);
    if (!all_finite(g))
      throw NumericalError("looped training diverged at step " + std::to_string(t) +
                           " (loss " + std::to_string(g.loss) + "): lower learning_rate or init_scale");
    if (t % options.eval_every == 0 || t == options.steps)
      result.curve.push_back(curve_point(t, g.loss, result.layers, eval_set, train, loops));
    if (t < options.steps) optimizer.step(result.layers, options.symmetric ? symmetrised(g.grad) : g.grad, t);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto test_set =
      RegressionTaskSampler(d, n, sigma, stream_seed(options.seed, 2)).sample_moments(options.test_tasks);
  result.test_loss = normalized_test_losses(test_set, train.sigma(), result.layers, loops).back();
  result.params = result.layers.front();
  return result;
}

}  // namespace lorafgc::looped
