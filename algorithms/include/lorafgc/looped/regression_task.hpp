#pragma once
// In-context linear regression tasks (Gatmiry et al., ICML 2024, Section 2):
// x_i ~ N(0, Sigma) in R^d, w* ~ N(0, Sigma^{-1}), y_i = <w*, x_i>, i = 1..n,
// plus a query x_q with its label y_q = <w*, x_q>. Drawing w* from Sigma^{-1}
// makes E[y^2] = tr(Sigma Sigma^{-1}) = d for every Sigma and makes the problem
// isotropic after whitening, which is why the optimal preconditioner is a
// multiple of Sigma^{-1}.
#include <lorafgc/core/eigen.hpp>

#include <cstdint>
#include <random>
#include <vector>

namespace lorafgc::looped {

struct RegressionTask {
  Eigen::MatrixXd X;        // n x d, one example per row
  Eigen::VectorXd y;        // n
  Eigen::VectorXd w_star;   // d
  Eigen::VectorXd x_query;  // d
  double y_query = 0;
};

// A task as the loop sees it: X and y enter every loop only through
// S = X^T X / n and b = X^T y / n (looped_transformer.hpp), so S, b, w*, and the
// query are the whole task, O(d^2) numbers instead of O(n d).
struct TaskMoments {
  Eigen::MatrixXd S;        // d x d
  Eigen::VectorXd b;        // d; b = S w* since y = X w*
  Eigen::VectorXd w_star;   // d
  Eigen::VectorXd x_query;  // d
  double y_query = 0;
};

TaskMoments moments_of(const RegressionTask& task);  // O(n d^2)
std::vector<TaskMoments> moments_of(const std::vector<RegressionTask>& tasks);

class RegressionTaskSampler {
 public:
  // Throws InvalidArgument naming "d", "n" or "sigma" (not d x d, not finite,
  // not symmetric, not positive definite).
  RegressionTaskSampler(int d, int n, const Eigen::MatrixXd& sigma, std::uint64_t seed);
  // Sigma = I.
  RegressionTaskSampler(int d, int n, std::uint64_t seed);

  RegressionTask sample();
  std::vector<RegressionTask> sample(int count);
  // The same distribution as moments_of(sample()), drawn in O(d^3) whatever n:
  // for n >= d, X^T X = L W L^T with W ~ Wishart(I, n) drawn by Bartlett's
  // decomposition W = B B^T (B lower triangular, B_ii^2 ~ chi^2(n - i),
  // i = 0..d-1, B_ij ~ N(0, 1) below the diagonal); for n < d W is singular and
  // the prompt is drawn as in sample(). This is what makes large n cheap.
  // A batch draws from 8 streams seeded by this sampler, in parallel: the same
  // tasks for every thread count, not the same as `count` calls of the above.
  TaskMoments sample_moments();
  std::vector<TaskMoments> sample_moments(int count);

  int d() const { return d_; }
  int n() const { return n_; }
  const Eigen::MatrixXd& sigma() const { return sigma_; }
  const Eigen::MatrixXd& sigma_inverse() const { return sigma_inverse_; }
  // E[y^2] = tr(Sigma Sigma^{-1}) = d: the loss of predicting 0.
  double label_second_moment() const { return d_; }

 private:
  RegressionTask sample(std::mt19937_64& rng) const;
  TaskMoments sample_moments(std::mt19937_64& rng) const;

  int d_, n_;
  Eigen::MatrixXd sigma_, sigma_inverse_, chol_;  // Sigma = chol chol^T
  std::mt19937_64 rng_;
};

// The prompt Z in R^{(d+1) x (n+1)}: columns [x_i; y_i], then [x_q; 0].
Eigen::MatrixXd prompt_matrix(const RegressionTask& task);

// A covariance with eigenvalues geometrically spaced from 1 down to
// 1/condition, in a random orthonormal basis drawn from `seed`.
Eigen::MatrixXd anisotropic_covariance(int d, double condition, std::uint64_t seed);

}  // namespace lorafgc::looped
