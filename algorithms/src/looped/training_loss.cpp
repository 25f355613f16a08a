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

// One prompt through the reduced state: forward keeps w_0..w_T, backward
// carries g_t = dloss/dw_t, g_t = (I - A S)^T g_{t+1}, and accumulates
// dA += g_{t+1} (c - S w_t)^T and dc += A^T g_{t+1} with c = b + S u; du = S dc.
double accumulate_reduced(const LoopedParameters& p, const RegressionTask& task, int loops, Eigen::MatrixXd& dA,
                          Eigen::VectorXd& du) {
  const double inv_n = 1.0 / double(task.X.rows());
  const Eigen::MatrixXd S = (task.X.transpose() * task.X) * inv_n;
  const Eigen::VectorXd c = (task.X.transpose() * task.y) * inv_n + S * p.u;
  std::vector<Eigen::VectorXd> w{Eigen::VectorXd::Zero(p.A.rows())};
  for (int t = 0; t < loops; ++t) w.push_back(w.back() + p.A * (c - S * w.back()));
  const double residual = task.x_query.dot(w.back()) - task.y_query;
  Eigen::VectorXd g = 2 * residual * task.x_query;
  Eigen::VectorXd dc = Eigen::VectorXd::Zero(c.size());
  for (int t = loops - 1; t >= 0; --t) {
    dA.noalias() += g * (c - S * w[t]).transpose();
    const Eigen::VectorXd At_g = p.A.transpose() * g;
    dc += At_g;
    g -= S * At_g;
  }
  du.noalias() += S * dc;
  return residual * residual;
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
  const Eigen::MatrixXd P = attention_P(params), Q = attention_Q(params);
  const auto rows = P.rows(), d = rows - 1;
  // Per-thread partial sums added in thread order: the same result on every
  // run with the same thread count (a critical section would add in any order).
  const int threads = omp_get_max_threads();
  std::vector<GeneralGradient> partial(
      threads, {Eigen::MatrixXd::Zero(rows, rows), Eigen::MatrixXd::Zero(rows, rows)});
  std::vector<double> partial_loss(threads, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const int me = omp_get_thread_num();
    auto& mine = partial[me];
    Eigen::MatrixXd dA = Eigen::MatrixXd::Zero(d, d);
    Eigen::VectorXd du = Eigen::VectorXd::Zero(d);
#pragma omp for schedule(static)
    for (std::ptrdiff_t k = 0; k < std::ptrdiff_t(tasks.size()); ++k)
      partial_loss[me] += method == GradientMethod::Reduced ? accumulate_reduced(params, tasks[k], loops, dA, du)
                                                            : accumulate_transformer(P, Q, tasks[k], loops, mine);
    // Express the reduced gradient in the transformer's P, Q entries so both
    // methods share the restriction below.
    mine.dQ.topLeftCorner(d, d) += dA.transpose();
    mine.dP.row(d).head(d) += du.transpose();
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
