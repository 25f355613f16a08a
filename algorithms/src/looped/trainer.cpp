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

LoopedParameters initial_parameters(int d, const TrainerOptions& options) {
  std::mt19937_64 rng(stream_seed(options.seed, 3));
  std::normal_distribution<double> normal(0.0, options.init_scale / std::sqrt(double(d)));
  LoopedParameters p{Eigen::MatrixXd(d, d), Eigen::VectorXd(d)};
  for (int j = 0; j < d; ++j)
    for (int i = 0; i < d; ++i) p.A(i, j) = normal(rng);
  // Symmetric: the loss is nearly flat along antisymmetric directions, so an
  // antisymmetric start would persist and hide whether A approaches c Sigma^{-1}.
  p.A = (0.5 * (p.A + p.A.transpose())).eval();
  for (int i = 0; i < d; ++i) p.u[i] = normal(rng);
  return p;
}

// Adam's moments for A and u, or plain SGD when `adam` is false.
class Optimizer {
 public:
  Optimizer(const TrainerOptions& options, int d)
      : o_(options), mA_(Eigen::MatrixXd::Zero(d, d)), vA_(mA_), mu_(Eigen::VectorXd::Zero(d)), vu_(mu_) {}

  void step(LoopedParameters& p, const Eigen::MatrixXd& dA, const Eigen::VectorXd& du, int t) {
    const double pi = std::acos(-1.0);
    const double lr = o_.cosine_decay ? o_.learning_rate * 0.5 * (1 + std::cos(pi * t / o_.steps))
                                      : o_.learning_rate;
    if (o_.optimizer == "sgd") {
      p.A -= lr * dA;
      p.u -= lr * du;
      return;
    }
    update(p.A, mA_, vA_, dA, lr, t + 1);
    update(p.u, mu_, vu_, du, lr, t + 1);
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
  Eigen::MatrixXd mA_, vA_;
  Eigen::VectorXd mu_, vu_;
};

}  // namespace

void check_options(const TrainerOptions& o) {
  require(o.steps >= 1, "steps", "must be >= 1, got " + std::to_string(o.steps));
  require_count("steps", o.steps, Quantity::steps);
  require_count("batch", o.batch, Quantity::batch);
  require(o.optimizer == "adam" || o.optimizer == "sgd", "optimizer",
          "expected 'adam' or 'sgd', got '" + o.optimizer + "'");
  parse_gradient_method(o.gradient);
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
  require_memory("batch", 8.0 * options.batch * (double(n) * (d + 1) + 2.0 * d + 1),
                 "a batch of " + std::to_string(options.batch) + " prompts");
  const auto eval_set = RegressionTaskSampler(d, n, sigma, stream_seed(options.seed, 1)).sample(options.eval_tasks);
  const auto start = std::chrono::steady_clock::now();
  TrainingResult result;
  result.params = initial_parameters(d, options);
  Optimizer optimizer(options, d);
  const double second_moment = train.label_second_moment();
  const GradientMethod method = parse_gradient_method(options.gradient);
  for (int t = 0; t <= options.steps; ++t) {
    const auto batch = train.sample(options.batch);
    const LossGradient g = training_loss_gradient(result.params, batch, loops, method);
    if (!std::isfinite(g.loss) || !g.dA.allFinite() || !g.du.allFinite())
      throw NumericalError("looped training diverged at step " + std::to_string(t) +
                           " (loss " + std::to_string(g.loss) + "): lower learning_rate or init_scale");
    if (t % options.eval_every == 0 || t == options.steps) {
      CurvePoint point;
      point.step = t;
      point.batch_loss = g.loss / second_moment;
      point.eval_loss = normalized_test_losses(eval_set, train.sigma(), result.params, loops).back();
      point.distance = relative_distance_to_multiple(result.params.A, train.sigma_inverse());
      point.u_norm = result.params.u.norm();
      result.curve.push_back(point);
    }
    if (t < options.steps) optimizer.step(result.params, g.dA, g.du, t);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto test_set = RegressionTaskSampler(d, n, sigma, stream_seed(options.seed, 2)).sample(options.test_tasks);
  result.test_loss = normalized_test_losses(test_set, train.sigma(), result.params, loops).back();
  return result;
}

}  // namespace lorafgc::looped
