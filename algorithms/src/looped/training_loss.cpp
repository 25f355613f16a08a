#include <lorafgc/core/limits.hpp>
#include <lorafgc/core/errors.hpp>
#include <lorafgc/looped/training_loss.hpp>

#include <omp.h>

namespace lorafgc::looped {
namespace {

struct GeneralGradient {
  Eigen::MatrixXd dP, dQ;
};

// One prompt: forward through the loops keeping every Z_t, then backward.
// With Y = Q Z_t, C = Z_t M Z_t^T (symmetric) and Z_{t+1} = Z_t - (1/n) P C Y,
// an upstream G = dloss/dZ_{t+1} gives
//   dP += -(1/n) G Y^T C,   dQ += -(1/n) (P C)^T G Z_t^T,
//   dZ_t = G - (1/n) Q^T (P C)^T G + (Cbar + Cbar^T) Z_t M,  Cbar = -(1/n) P^T G Y^T.
double accumulate_transformer(const Eigen::MatrixXd& P, const Eigen::MatrixXd& Q, const RegressionTask& task,
                         int loops, GeneralGradient& grad) {
  const auto n = task.X.rows();
  const double inv_n = 1.0 / double(n);
  std::vector<Eigen::MatrixXd> Z{prompt_matrix(task)};
  for (int t = 0; t < loops; ++t) {
    const auto keys = Z.back().leftCols(n);
    const Eigen::MatrixXd kernel = P * (keys * keys.transpose());
    Z.push_back(Z.back() - inv_n * (kernel * (Q * Z.back())));
  }
  const auto rows = Z.front().rows();
  const double residual = -Z.back()(rows - 1, n) - task.y_query;
  Eigen::MatrixXd G = Eigen::MatrixXd::Zero(rows, n + 1);
  G(rows - 1, n) = -2 * residual;
  for (int t = loops - 1; t >= 0; --t) {
    const Eigen::MatrixXd& Zt = Z[t];
    const auto keys = Zt.leftCols(n);
    const Eigen::MatrixXd C = keys * keys.transpose();
    const Eigen::MatrixXd Y = Q * Zt;
    const Eigen::MatrixXd PC = P * C;
    const Eigen::MatrixXd GYt = G * Y.transpose();
    grad.dP.noalias() -= inv_n * (GYt * C);
    grad.dQ.noalias() -= inv_n * (PC.transpose() * G * Zt.transpose());
    const Eigen::MatrixXd Cbar = -inv_n * (P.transpose() * GYt);
    Eigen::MatrixXd dZ = G - inv_n * (Q.transpose() * (PC.transpose() * G));
    dZ.leftCols(n).noalias() += (Cbar + Cbar.transpose()) * keys;
    G = std::move(dZ);
  }
  return residual * residual;
}

// One task through the reduced state: forward keeps w_0..w_T, backward carries
// g_t = dloss/dw_t, g_t = (I - A_t S)^T g_{t+1}, and accumulates
// dA_t += g_{t+1} (c_t - S w_t)^T and dc_t += A_t^T g_{t+1} with c_t = b + S u_t;
// du_t = S dc_t (S is symmetric). Shared layers sum over t.
double accumulate_reduced(const LayerStack& stack, const TaskMoments& task, int loops, LayerStack& grad,
                          std::vector<Eigen::VectorXd>& dc) {
  const auto& S = task.S;
  std::vector<Eigen::VectorXd> c(stack.size());
  for (std::size_t l = 0; l < stack.size(); ++l) {
    c[l] = task.b + S * stack[l].u;
    dc[l].setZero(S.rows());
  }
  const auto at = [&](int t) { return stack.size() == 1 ? 0 : std::size_t(t); };
  std::vector<Eigen::VectorXd> w{Eigen::VectorXd::Zero(S.rows())};
  for (int t = 0; t < loops; ++t) w.push_back(w.back() + stack[at(t)].A * (c[at(t)] - S * w.back()));
  const double residual = task.x_query.dot(w.back()) - task.y_query;
  Eigen::VectorXd g = 2 * residual * task.x_query;
  for (int t = loops - 1; t >= 0; --t) {
    const auto l = at(t);
    grad[l].A.noalias() += g * (c[l] - S * w[t]).transpose();
    const Eigen::VectorXd At_g = stack[l].A.transpose() * g;
    dc[l] += At_g;
    g -= S * At_g;
  }
  for (std::size_t l = 0; l < stack.size(); ++l) grad[l].u.noalias() += S * dc[l];
  return residual * residual;
}

LayerStack zeros_like(const LayerStack& stack) {
  LayerStack out;
  for (const auto& l : stack)
    out.push_back({Eigen::MatrixXd::Zero(l.A.rows(), l.A.cols()), Eigen::VectorXd::Zero(l.u.size())});
  return out;
}

void check_tasks(const std::vector<RegressionTask>& tasks, const LoopedParameters& params, int loops) {
  if (tasks.empty()) throw InvalidArgument("tasks", "is empty");
  require_count("loops", loops, Quantity::loops);
  check_parameters(params, int(tasks.front().X.cols()));
}

}  // namespace

GradientMethod parse_gradient_method(const std::string& text) {
  if (text == "reduced") return GradientMethod::Reduced;
  if (text == "transformer") return GradientMethod::Transformer;
  throw InvalidArgument("gradient", "expected 'reduced' or 'transformer', got '" + text + "'");
}

LossGradient training_loss_gradient(const LoopedParameters& params, const std::vector<RegressionTask>& tasks,
                                    int loops, GradientMethod method) {
  check_tasks(tasks, params, loops);
  if (method == GradientMethod::Reduced) {
    StackGradient g = training_loss_gradient(LayerStack{params}, moments_of(tasks), loops);
    return {g.loss, std::move(g.grad[0].A), std::move(g.grad[0].u)};
  }
  const Eigen::MatrixXd P = attention_P(params), Q = attention_Q(params);
  const auto rows = P.rows(), d = rows - 1;
  // Per-thread partial sums added in thread order: the same result on every
  // run with the same thread count (a critical section would add in any order).
  const int threads = omp_get_max_threads();
  std::vector<GeneralGradient> partial(
      threads, {Eigen::MatrixXd::Zero(rows, rows), Eigen::MatrixXd::Zero(rows, rows)});
  std::vector<double> partial_loss(threads, 0.0);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::ptrdiff_t k = 0; k < std::ptrdiff_t(tasks.size()); ++k) {
    const int me = omp_get_thread_num();
    partial_loss[me] += accumulate_transformer(P, Q, tasks[k], loops, partial[me]);
  }
  GeneralGradient total = partial.front();
  double loss = partial_loss.front();
  for (int i = 1; i < threads; ++i) {
    total.dP += partial[i].dP;
    total.dQ += partial[i].dQ;
    loss += partial_loss[i];
  }
  const double inv_count = 1.0 / double(tasks.size());
  LossGradient out;
  out.loss = loss * inv_count;
  out.dA = total.dQ.topLeftCorner(d, d).transpose() * inv_count;
  out.du = total.dP.row(d).head(d).transpose() * inv_count;
  return out;
}

StackGradient training_loss_gradient(const LayerStack& stack, const std::vector<TaskMoments>& tasks, int loops) {
  if (tasks.empty()) throw InvalidArgument("tasks", "is empty");
  require_count("loops", loops, Quantity::loops);
  check_stack(stack, int(tasks.front().S.rows()), loops);
  // Per-thread partial sums added in thread order, as above.
  const int threads = omp_get_max_threads();
  std::vector<LayerStack> partial(threads, zeros_like(stack));
  std::vector<double> partial_loss(threads, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const int me = omp_get_thread_num();
    std::vector<Eigen::VectorXd> dc(stack.size());
#pragma omp for schedule(static)
    for (std::ptrdiff_t k = 0; k < std::ptrdiff_t(tasks.size()); ++k)
      partial_loss[me] += accumulate_reduced(stack, tasks[k], loops, partial[me], dc);
  }
  StackGradient out{partial_loss.front(), std::move(partial.front())};
  for (int i = 1; i < threads; ++i) {
    out.loss += partial_loss[i];
    for (std::size_t l = 0; l < stack.size(); ++l) {
      out.grad[l].A += partial[i][l].A;
      out.grad[l].u += partial[i][l].u;
    }
  }
  const double inv_count = 1.0 / double(tasks.size());
  out.loss *= inv_count;
  for (auto& l : out.grad) {
    l.A *= inv_count;
    l.u *= inv_count;
  }
  return out;
}

double training_loss(const LoopedParameters& params, const std::vector<RegressionTask>& tasks, int loops) {
  check_tasks(tasks, params, loops);
  double sum = 0;
  for (const auto& task : tasks) {
    const double r = looped_prediction(params, prompt_matrix(task), loops) - task.y_query;
    sum += r * r;
  }
  return sum / double(tasks.size());
}

}  // namespace lorafgc::looped
