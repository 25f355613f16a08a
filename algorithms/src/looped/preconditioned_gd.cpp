#include <lorafgc/core/limits.hpp>
#include <lorafgc/core/checks.hpp>
#include <lorafgc/core/errors.hpp>
#include <lorafgc/looped/preconditioned_gd.hpp>

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <limits>

namespace lorafgc::looped {

std::vector<Eigen::VectorXd> gd_iterates(const RegressionTask& task, const LoopedParameters& params,
                                         int loops) {
  const auto n = task.X.rows(), d = task.X.cols();
  check_parameters(params, int(d));
  require_count("loops", loops, Quantity::loops);
  std::vector<Eigen::VectorXd> w{Eigen::VectorXd::Zero(d)};
  for (int t = 0; t < loops; ++t) {
    const Eigen::VectorXd residual = task.y - task.X * (w.back() - params.u);
    w.push_back(w.back() + params.A * (task.X.transpose() * residual) / double(n));
  }
  return w;
}

namespace {

// X never changes inside the loop, so each task enters only through
// S = X^T X / n and b = X^T y / n: formed once, O(n d^2), reused for every
// parameter value a search tries.
struct TaskMoments {
  Eigen::MatrixXd S;
  Eigen::VectorXd b, w_star;
};

std::vector<TaskMoments> moments_of(const std::vector<RegressionTask>& tasks) {
  if (tasks.empty()) throw InvalidArgument("tasks", "is empty");
  std::vector<TaskMoments> out(tasks.size());
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t k = 0; k < std::ptrdiff_t(tasks.size()); ++k) {
    const auto& t = tasks[k];
    const double inv_n = 1.0 / double(t.X.rows());
    out[k] = {(t.X.transpose() * t.X) * inv_n, (t.X.transpose() * t.y) * inv_n, t.w_star};
  }
  return out;
}

// The losses along w <- w + drive_k - M_k w from w = 0, mean over tasks k, with
// (drive_k, M_k) from step(k, drive, M): one recurrence for the loss of given
// parameters and for the step search's trials.
template <class Step>
std::vector<double> iterate_losses(const std::vector<TaskMoments>& tasks, const Eigen::MatrixXd& sigma, int loops,
                                   const Step& step) {
  const auto d = sigma.rows();
  Eigen::MatrixXd per_task(loops + 1, Eigen::Index(tasks.size()));
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t k = 0; k < std::ptrdiff_t(tasks.size()); ++k) {
    Eigen::VectorXd drive;
    Eigen::MatrixXd M;
    step(std::size_t(k), drive, M);
    Eigen::VectorXd w = Eigen::VectorXd::Zero(d);
    for (int t = 0; t <= loops; ++t) {
      const Eigen::VectorXd e = w - tasks[k].w_star;
      per_task(t, k) = e.dot(sigma * e);
      w += drive - M * w;
    }
  }
  const Eigen::VectorXd mean = per_task.rowwise().mean() / double(d);  // E[y^2] = d
  return {mean.data(), mean.data() + mean.size()};
}

std::vector<double> losses_from_moments(const std::vector<TaskMoments>& tasks, const Eigen::MatrixXd& sigma,
                                        const LoopedParameters& params, int loops) {
  check_parameters(params, int(sigma.rows()));
  require_count("loops", loops, Quantity::loops);
  return iterate_losses(tasks, sigma, loops, [&](std::size_t k, Eigen::VectorXd& drive, Eigen::MatrixXd& M) {
    drive = params.A * (tasks[k].b + tasks[k].S * params.u);
    M = params.A * tasks[k].S;
  });
}

}  // namespace

std::vector<double> normalized_test_losses(const std::vector<RegressionTask>& tasks,
                                           const Eigen::MatrixXd& sigma,
                                           const LoopedParameters& params, int loops) {
  std::vector<double> losses = losses_from_moments(moments_of(tasks), sigma, params, loops);
  for (std::size_t t = 0; t < losses.size(); ++t)
    if (!std::isfinite(losses[t]))
      throw NumericalError("looped: the test loss after " + std::to_string(t) +
                           " loops is not finite: the parameters A or u make the iteration diverge");
  return losses;
}

namespace {

// The step search's tasks with base folded in: base S_k and base b_k, formed
// once (O(d^3) per task), so that each trial a costs O(loops d^2) per task.
// Forming (a base) S_k per trial was most of the looped report's reference
// searches.
struct BaseProducts {
  std::vector<Eigen::MatrixXd> S;
  std::vector<Eigen::VectorXd> b;
};

BaseProducts base_products(const std::vector<TaskMoments>& tasks, const Eigen::MatrixXd& base) {
  BaseProducts out{std::vector<Eigen::MatrixXd>(tasks.size()), std::vector<Eigen::VectorXd>(tasks.size())};
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t k = 0; k < std::ptrdiff_t(tasks.size()); ++k) {
    out.S[k] = base * tasks[k].S;
    out.b[k] = base * tasks[k].b;
  }
  return out;
}

// The last loss of A = a base, u = 0 (the largest double where it diverges).
double loss_at(const std::vector<TaskMoments>& tasks, const Eigen::MatrixXd& sigma, const BaseProducts& base,
               double a, int loops) {
  const double value = iterate_losses(tasks, sigma, loops, [&](std::size_t k, Eigen::VectorXd& drive,
                                                               Eigen::MatrixXd& M) {
                         drive = a * base.b[k];
                         M = a * base.S[k];
                       }).back();
  return std::isfinite(value) ? value : std::numeric_limits<double>::max();
}

// The largest useful step: a beyond 2 / lambda_max(base S) diverges on that
// task; the median over a few tasks sets the scale of the search interval.
double step_scale(const BaseProducts& base) {
  std::vector<double> top;
  for (std::size_t k = 0; k < std::min<std::size_t>(base.S.size(), 64); ++k) {
    top.push_back(Eigen::EigenSolver<Eigen::MatrixXd>(base.S[k], false).eigenvalues().real().maxCoeff());
  }
  std::nth_element(top.begin(), top.begin() + top.size() / 2, top.end());
  return 1.0 / top[top.size() / 2];
}

}  // namespace

StepSearch best_step(const std::vector<RegressionTask>& task_list, const Eigen::MatrixXd& sigma,
                     const Eigen::MatrixXd& base, int loops) {
  const auto tasks = moments_of(task_list);
  if (loops < 1) throw InvalidArgument("loops", "must be >= 1, got " + std::to_string(loops));
  require_count("loops", loops, Quantity::loops);
  require_shape("base", base, sigma.rows(), sigma.rows());
  require_finite("base", base);
  // A coarse log grid finds the basin (the T-step loss need not be unimodal in
  // a far beyond stability); golden section then refines between neighbours.
  const BaseProducts products = base_products(tasks, base);
  const double unit = step_scale(products);
  const int grid = 25;
  const double lo = std::log(1e-3 * unit), hi = std::log(4.0 * unit);
  std::vector<double> values(grid);
  for (int i = 0; i < grid; ++i)
    values[i] = loss_at(tasks, sigma, products, std::exp(lo + (hi - lo) * i / (grid - 1)), loops);
  const int best = int(std::min_element(values.begin(), values.end()) - values.begin());
  double left = lo + (hi - lo) * std::max(best - 1, 0) / (grid - 1);
  double right = lo + (hi - lo) * std::min(best + 1, grid - 1) / (grid - 1);
  const double ratio = (std::sqrt(5.0) - 1) / 2;
  double x1 = right - ratio * (right - left), x2 = left + ratio * (right - left);
  double f1 = loss_at(tasks, sigma, products, std::exp(x1), loops);
  double f2 = loss_at(tasks, sigma, products, std::exp(x2), loops);
  while (right - left > 1e-6) {
    if (f1 < f2) {
      right = x2, x2 = x1, f2 = f1;
      x1 = right - ratio * (right - left);
      f1 = loss_at(tasks, sigma, products, std::exp(x1), loops);
    } else {
      left = x1, x1 = x2, f1 = f2;
      x2 = left + ratio * (right - left);
      f2 = loss_at(tasks, sigma, products, std::exp(x2), loops);
    }
  }
  StepSearch out;
  out.scale = std::exp(0.5 * (left + right));
  out.loss = losses_from_moments(tasks, sigma, {out.scale * base, Eigen::VectorXd::Zero(base.rows())}, loops);
  for (double loss : out.loss)
    if (!std::isfinite(loss))
      throw NumericalError("looped: no step a keeps the test loss finite over " + std::to_string(loops) +
                           " loops (sigma or the tasks are too large)");
  return out;
}

double relative_distance_to_multiple(const Eigen::MatrixXd& A, const Eigen::MatrixXd& B) {
  const double a_norm = A.norm();
  if (a_norm == 0) return 0;
  const double c = (A.array() * B.array()).sum() / B.squaredNorm();
  return (A - c * B).norm() / a_norm;
}

}  // namespace lorafgc::looped
