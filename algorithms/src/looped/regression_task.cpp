#include <lorafgc/core/checks.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/core/random.hpp>
#include <lorafgc/looped/regression_task.hpp>

#include <array>
#include <cmath>
#include <string>

namespace lorafgc::looped {
namespace {

void check_dimension(int d) {
  require_count("d", d, Quantity::width);
  require_memory("d", 8.0 * 4 * double(d) * d, "the covariance and its factors, d = " + std::to_string(d));
}

void check_sizes(int d, int n) {
  check_dimension(d);
  require_count("n", n, Quantity::examples);
}

// Symmetry is checked relative to the largest entry: a covariance built in
// floating point (U diag U^T) is symmetric only to rounding.
void check_covariance(const Eigen::MatrixXd& sigma, int d) {
  require_shape("sigma", sigma, d, d);
  require_finite("sigma", sigma);
  const double scale = sigma.cwiseAbs().maxCoeff();
  if ((sigma - sigma.transpose()).cwiseAbs().maxCoeff() > 1e-12 * scale)
    throw InvalidArgument("sigma", "is not symmetric");
}

}  // namespace

RegressionTaskSampler::RegressionTaskSampler(int d, int n, const Eigen::MatrixXd& sigma,
                                             std::uint64_t seed)
    : d_(d), n_(n), rng_(seed) {
  check_sizes(d, n);
  check_covariance(sigma, d);
  sigma_ = 0.5 * (sigma + sigma.transpose());
  Eigen::LLT<Eigen::MatrixXd> llt(sigma_);
  // LLT succeeds on some numerically singular matrices; the eigenvalues decide.
  const Eigen::VectorXd eig = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(sigma_).eigenvalues();
  if (llt.info() != Eigen::Success || eig.minCoeff() <= 1e-13 * eig.maxCoeff())
    throw InvalidArgument("sigma", "is not positive definite (smallest eigenvalue " +
                                       std::to_string(eig.minCoeff()) + ")");
  chol_ = llt.matrixL();
  sigma_inverse_ = llt.solve(Eigen::MatrixXd::Identity(d, d));
  sigma_inverse_ = 0.5 * (sigma_inverse_ + sigma_inverse_.transpose()).eval();
}

RegressionTaskSampler::RegressionTaskSampler(int d, int n, std::uint64_t seed)
    : RegressionTaskSampler(d, n, Eigen::MatrixXd::Identity(std::max(d, 1), std::max(d, 1)), seed) {}

namespace {

// A fresh distribution per vector: the prompts' draws as they have always been.
Eigen::VectorXd standard_normal(std::mt19937_64& rng, int size) {
  std::normal_distribution<double> normal;
  Eigen::VectorXd v(size);
  for (int i = 0; i < size; ++i) v[i] = normal(rng);
  return v;
}

}  // namespace

RegressionTask RegressionTaskSampler::sample() { return sample(rng_); }

RegressionTask RegressionTaskSampler::sample(std::mt19937_64& rng) const {
  RegressionTask task;
  // x = L g has covariance L L^T = Sigma; w* = L^{-T} g has covariance Sigma^{-1}.
  task.w_star = chol_.transpose().triangularView<Eigen::Upper>().solve(standard_normal(rng, d_));
  task.X.resize(n_, d_);
  for (int i = 0; i < n_; ++i) task.X.row(i) = (chol_ * standard_normal(rng, d_)).transpose();
  task.y = task.X * task.w_star;
  task.x_query = chol_ * standard_normal(rng, d_);
  task.y_query = task.x_query.dot(task.w_star);
  return task;
}

std::vector<RegressionTask> RegressionTaskSampler::sample(int count) {
  require_count("tasks", count, Quantity::tasks);
  require_memory("tasks", 8.0 * double(count) * (double(n_) * (d_ + 1) + 2.0 * d_ + 1),
                 std::to_string(count) + " tasks of n = " + std::to_string(n_) + ", d = " + std::to_string(d_));
  std::vector<RegressionTask> tasks;
  tasks.reserve(count);
  for (int i = 0; i < count; ++i) tasks.push_back(sample());
  return tasks;
}

TaskMoments RegressionTaskSampler::sample_moments() { return sample_moments(rng_); }

// Bartlett's decomposition (regression_task.hpp) with the draws from `rng`.
TaskMoments RegressionTaskSampler::sample_moments(std::mt19937_64& rng) const {
  if (n_ < d_) return moments_of(sample(rng));  // W is singular: through the prompt
  std::normal_distribution<double> normal;
  TaskMoments m;
  m.w_star = chol_.transpose().triangularView<Eigen::Upper>().solve(standard_normal(rng, d_));
  Eigen::MatrixXd B = Eigen::MatrixXd::Zero(d_, d_);
  for (int i = 0; i < d_; ++i) {
    // chi^2(k) is Gamma(k / 2, scale 2).
    B(i, i) = std::sqrt(std::gamma_distribution<double>(0.5 * (n_ - i), 2.0)(rng));
    for (int j = 0; j < i; ++j) B(i, j) = normal(rng);
  }
  const Eigen::MatrixXd LB = chol_ * B.triangularView<Eigen::Lower>();
  m.S = (LB * LB.transpose()) / double(n_);
  m.b = m.S * m.w_star;
  m.x_query = chol_ * standard_normal(rng, d_);
  m.y_query = m.x_query.dot(m.w_star);
  return m;
}

std::vector<TaskMoments> RegressionTaskSampler::sample_moments(int count) {
  require_count("tasks", count, Quantity::tasks);
  require_memory("tasks", 8.0 * double(count) * (double(d_) * (d_ + 3) + 1),
                 std::to_string(count) + " task moments of d = " + std::to_string(d_));
  // A fixed number of streams, each seeded from this sampler's: the draws are the
  // same for any thread count, and the threads share the O(d^3) work.
  constexpr int kStreams = 8;
  std::array<std::uint64_t, kStreams> seeds;
  for (auto& s : seeds) s = rng_();
  std::vector<TaskMoments> tasks(static_cast<std::size_t>(count));
#pragma omp parallel for schedule(static)
  for (int c = 0; c < kStreams; ++c) {
    std::mt19937_64 rng(seeds[static_cast<std::size_t>(c)]);
    const int first = int(std::int64_t(count) * c / kStreams), last = int(std::int64_t(count) * (c + 1) / kStreams);
    for (int k = first; k < last; ++k) tasks[static_cast<std::size_t>(k)] = sample_moments(rng);
  }
  return tasks;
}

TaskMoments moments_of(const RegressionTask& task) {
  const double inv_n = 1.0 / double(task.X.rows());
  return {(task.X.transpose() * task.X) * inv_n, (task.X.transpose() * task.y) * inv_n, task.w_star, task.x_query,
          task.y_query};
}

std::vector<TaskMoments> moments_of(const std::vector<RegressionTask>& tasks) {
  std::vector<TaskMoments> out(tasks.size());
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t k = 0; k < std::ptrdiff_t(tasks.size()); ++k) out[k] = moments_of(tasks[k]);
  return out;
}

Eigen::MatrixXd prompt_matrix(const RegressionTask& task) {
  const auto n = task.X.rows(), d = task.X.cols();
  Eigen::MatrixXd Z = Eigen::MatrixXd::Zero(d + 1, n + 1);
  Z.topLeftCorner(d, n) = task.X.transpose();
  Z.bottomLeftCorner(1, n) = task.y.transpose();
  Z.col(n).head(d) = task.x_query;
  return Z;
}

Eigen::MatrixXd anisotropic_covariance(int d, double condition, std::uint64_t seed) {
  check_dimension(d);
  if (!(condition >= 1) || !std::isfinite(condition))
    throw InvalidArgument("condition", "must be a finite number >= 1");
  const Eigen::MatrixXd G = gaussian_matrix(d, d, seed);
  const Eigen::MatrixXd U = Eigen::HouseholderQR<Eigen::MatrixXd>(G).householderQ();
  Eigen::VectorXd eig(d);
  for (int i = 0; i < d; ++i) eig[i] = d == 1 ? 1.0 : std::pow(condition, -double(i) / (d - 1));
  Eigen::MatrixXd sigma = U * eig.asDiagonal() * U.transpose();
  return 0.5 * (sigma + sigma.transpose());
}

}  // namespace lorafgc::looped
