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

// Non-empty tasks, and sigma of their d (a mismatch would index out of bounds).
void require_tasks(const std::vector<TaskMoments>& tasks, const Eigen::MatrixXd& sigma) {
  if (tasks.empty()) throw InvalidArgument("tasks", "is empty");
  require_shape("sigma", sigma, tasks.front().S.rows(), tasks.front().S.rows());
}

// The losses along w <- w + drive_l - M_l w from w = 0 (layer l acting at loop
// t, as layer_at), mean over tasks k, with (drive_l, M_l) from
// step(k, l, drive, M), formed once per layer: one recurrence for the loss of
// given parameters and for the step search's trials.
template <class Step>
std::vector<double> iterate_losses(const std::vector<TaskMoments>& tasks, const Eigen::MatrixXd& sigma, int loops,
                                   int layers, const Step& step) {
  const auto d = sigma.rows();
  Eigen::MatrixXd per_task(loops + 1, Eigen::Index(tasks.size()));
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t k = 0; k < std::ptrdiff_t(tasks.size()); ++k) {
    std::vector<Eigen::VectorXd> drive(layers);
    std::vector<Eigen::MatrixXd> M(layers);
    for (int l = 0; l < layers; ++l) step(std::size_t(k), l, drive[l], M[l]);
    Eigen::VectorXd w = Eigen::VectorXd::Zero(d);
    for (int t = 0; t <= loops; ++t) {
      const Eigen::VectorXd e = w - tasks[k].w_star;
      per_task(t, k) = e.dot(sigma * e);
      if (t == loops) break;
      const int l = layers == 1 ? 0 : t;
      w += drive[l] - M[l] * w;
    }
  }
  const Eigen::VectorXd mean = per_task.rowwise().mean() / double(d);  // E[y^2] = d
  return {mean.data(), mean.data() + mean.size()};
}

std::vector<double> losses_from_moments(const std::vector<TaskMoments>& tasks, const Eigen::MatrixXd& sigma,
                                        const LayerStack& stack, int loops) {
  require_tasks(tasks, sigma);
  require_count("loops", loops, Quantity::loops);
  check_stack(stack, int(sigma.rows()), loops);
  return iterate_losses(tasks, sigma, loops, int(stack.size()),
                        [&](std::size_t k, int l, Eigen::VectorXd& drive, Eigen::MatrixXd& M) {
                          drive = stack[l].A * (tasks[k].b + tasks[k].S * stack[l].u);
                          M = stack[l].A * tasks[k].S;
                        });
}

}  // namespace

std::vector<double> normalized_test_losses(const std::vector<TaskMoments>& tasks, const Eigen::MatrixXd& sigma,
                                           const LayerStack& stack, int loops) {
  std::vector<double> losses = losses_from_moments(tasks, sigma, stack, loops);
  for (std::size_t t = 0; t < losses.size(); ++t)
    if (!std::isfinite(losses[t]))
      throw NumericalError("looped: the test loss after " + std::to_string(t) +
                           " loops is not finite: the parameters A or u make the iteration diverge");
  return losses;
}

std::vector<double> normalized_test_losses(const std::vector<RegressionTask>& tasks,
                                           const Eigen::MatrixXd& sigma,
                                           const LoopedParameters& params, int loops) {
  return normalized_test_losses(moments_of(tasks), sigma, LayerStack{params}, loops);
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
  const double value = iterate_losses(tasks, sigma, loops, 1, [&](std::size_t k, int, Eigen::VectorXd& drive,
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

StepSearch best_step(const std::vector<RegressionTask>& tasks, const Eigen::MatrixXd& sigma,
                     const Eigen::MatrixXd& base, int loops) {
  return best_step(moments_of(tasks), sigma, base, loops);
}

StepSearch best_step(const std::vector<TaskMoments>& tasks, const Eigen::MatrixXd& sigma,
                     const Eigen::MatrixXd& base, int loops) {
  require_tasks(tasks, sigma);
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
  out.loss = losses_from_moments(tasks, sigma, {{out.scale * base, Eigen::VectorXd::Zero(base.rows())}}, loops);
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
