// The looped linear transformer (issue 5): the loop is preconditioned GD, its
// two attention forms agree, its training gradient is exact, training reaches
// the closed-form optimum, and bad parameters are refused by name.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/looped/looped_transformer.hpp>
#include <lorafgc/looped/preconditioned_gd.hpp>
#include <lorafgc/looped/regression_task.hpp>
#include <lorafgc/looped/trainer.hpp>
#include <lorafgc/looped/training_loss.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <omp.h>

#include <cmath>
#include <limits>
#include <random>

using namespace lorafgc::looped;
using lorafgc::InvalidArgument;

namespace {

constexpr double kUnit = std::numeric_limits<double>::epsilon();

using lorafgc::test::random_matrix;

// A non-symmetric preconditioner close to a stable step (0.5 Sigma^{-1}), so
// the transpose convention is exercised and the iterates stay bounded.
LoopedParameters test_parameters(const RegressionTaskSampler& s, bool with_u, std::uint64_t seed) {
  const int d = s.d();
  LoopedParameters p{0.5 * s.sigma_inverse() + random_matrix(d, d, seed, 0.05), Eigen::VectorXd::Zero(d)};
  if (with_u) p.u = random_matrix(d, 1, seed + 1, 0.3);
  return p;
}

// (f(x + h) - f(x - h)) / 2h in one entry x of f's parameters, h = 1e-5 (the
// error budget is in the finite-difference test below).
template <class F>
double central_difference(const F& f, double& entry) {
  const double h = 1e-5, saved = entry;
  entry = saved + h;
  const double up = f();
  entry = saved - h;
  const double down = f();
  entry = saved;
  return (up - down) / (2 * h);
}

template <class F>
void require_invalid(F&& f, const std::string& argument) {
  try {
    f();
    FAIL("accepted; expected InvalidArgument naming " << argument);
  } catch (const InvalidArgument& e) {
    INFO(e.what());
    CHECK(e.argument() == argument);
  }
}

}  // namespace

TEST_CASE("the u = 0 loop is preconditioned GD to rounding", "[looped]") {
  // Every label slot after t loops is y_i - <w_t, x_i> (query: -<w_t, x_q>), w_t
  // from the explicit recursion. Both sides are T rounds of dot products of
  // length <= n + d, so with a contracting step the difference is bounded by
  // ~ (n + d) T u times the size of the terms; the check uses 8x that.
  for (const bool anisotropic : {false, true}) {
    const int d = 6, n = 11, loops = 7;
    const Eigen::MatrixXd sigma = anisotropic ? anisotropic_covariance(d, 20.0, 3) : Eigen::MatrixXd::Identity(d, d);
    RegressionTaskSampler sampler(d, n, sigma, 5);
    for (int k = 0; k < 4; ++k) {
      const auto task = sampler.sample();
      const auto params = test_parameters(sampler, false, 10 + k);
      const auto w = gd_iterates(task, params, loops);
      const Eigen::MatrixXd Z0 = prompt_matrix(task);
      for (const auto form : {AttentionForm::Linear, AttentionForm::Quadratic}) {
        for (int t = 0; t <= loops; ++t) {
          const Eigen::MatrixXd Z = looped_forward(Z0, attention_P(params), attention_Q(params), t, form);
          Eigen::VectorXd expected(n + 1);
          expected.head(n) = task.y - task.X * w[t];
          expected[n] = -task.x_query.dot(w[t]);
          const double scale = 1 + (task.X.rowwise().norm().maxCoeff() + task.x_query.norm()) *
                                       (w[t].norm() + task.w_star.norm());
          INFO("anisotropic " << anisotropic << " form " << to_string(form) << " t " << t);
          CHECK((Z.row(d).transpose() - expected).cwiseAbs().maxCoeff() <= 8 * (n + d) * (t + 1) * kUnit * scale);
          CHECK(Z.topRows(d) == Z0.topRows(d));  // P's top rows are zero: x never moves
        }
        CHECK(looped_prediction(params, Z0, loops, form) ==
              Approx(task.x_query.dot(w[loops])).epsilon(0).margin(8 * (n + d) * loops * kUnit *
                                                                   (1 + task.x_query.norm() * w[loops].norm())));
      }
    }
  }
}

TEST_CASE("with u the loop is GD on y - X(w - u)", "[looped]") {
  const int d = 4, n = 9, loops = 5;
  RegressionTaskSampler sampler(d, n, 8);
  const auto task = sampler.sample();
  const auto params = test_parameters(sampler, true, 21);
  const auto w = gd_iterates(task, params, loops);
  const double yhat = looped_prediction(params, prompt_matrix(task), loops);
  CHECK(std::abs(yhat - task.x_query.dot(w.back())) <= 1e3 * kUnit * (1 + std::abs(yhat)));
}

TEST_CASE("quadratic and linear attention forms agree for general weights", "[looped]") {
  // Same sum of products in a different association: rounding-level agreement.
  const int d = 5, n = 13;
  const Eigen::MatrixXd Z = random_matrix(d + 1, n + 1, 1);
  const Eigen::MatrixXd P = random_matrix(d + 1, d + 1, 2, 0.2), Q = random_matrix(d + 1, d + 1, 3, 0.2);
  for (int loops : {1, 3}) {
    const Eigen::MatrixXd a = looped_forward(Z, P, Q, loops, AttentionForm::Linear);
    const Eigen::MatrixXd b = looped_forward(Z, P, Q, loops, AttentionForm::Quadratic);
    CHECK((a - b).cwiseAbs().maxCoeff() <= 1e-12 * (1 + a.cwiseAbs().maxCoeff()));
  }
}

TEST_CASE("the training gradient matches central finite differences", "[looped]") {
  // Central differences with step h have truncation error h^2 |f'''| / 6 and
  // rounding error ~ u |f| / h; h = 1e-5 with f, f''' = O(1) puts both near
  // 1e-11, so 1e-7 relative to the largest gradient entry leaves a wide margin
  // while a wrong term (a missing transpose, a dropped loop) is O(1).
  for (const bool anisotropic : {false, true}) {
    const int d = 3, n = 5, loops = 3;
    const Eigen::MatrixXd sigma = anisotropic ? anisotropic_covariance(d, 10.0, 4) : Eigen::MatrixXd::Identity(d, d);
    RegressionTaskSampler sampler(d, n, sigma, 9);
    const auto tasks = sampler.sample(6);
    auto params = test_parameters(sampler, true, 31);
    for (const auto method : {GradientMethod::Reduced, GradientMethod::Transformer}) {
      INFO("method " << (method == GradientMethod::Reduced ? "reduced" : "transformer"));
      const LossGradient g = training_loss_gradient(params, tasks, loops, method);
      CHECK(g.loss == Approx(training_loss(params, tasks, loops)).epsilon(1e-12));
      const double scale = std::max(g.dA.cwiseAbs().maxCoeff(), g.du.cwiseAbs().maxCoeff());
      const auto central = [&](double& entry) {
        return central_difference([&] { return training_loss(params, tasks, loops); }, entry);
      };
      for (int j = 0; j < d; ++j)
        for (int i = 0; i < d; ++i) {
          INFO("dA(" << i << ", " << j << ")");
          CHECK(std::abs(g.dA(i, j) - central(params.A(i, j))) <= 1e-7 * scale);
        }
      for (int i = 0; i < d; ++i) {
        INFO("du(" << i << ")");
        CHECK(std::abs(g.du[i] - central(params.u[i])) <= 1e-7 * scale);
      }
    }
  }
}

TEST_CASE("reduced and transformer gradients agree to rounding", "[looped]") {
  const int d = 7, n = 15, loops = 6;
  RegressionTaskSampler sampler(d, n, anisotropic_covariance(d, 30.0, 2), 17);
  const auto tasks = sampler.sample(32);
  const auto params = test_parameters(sampler, true, 41);
  const auto a = training_loss_gradient(params, tasks, loops, GradientMethod::Reduced);
  const auto b = training_loss_gradient(params, tasks, loops, GradientMethod::Transformer);
  const double scale = b.dA.cwiseAbs().maxCoeff();
  CHECK(a.loss == Approx(b.loss).epsilon(1e-11));
  CHECK((a.dA - b.dA).cwiseAbs().maxCoeff() <= 1e-10 * scale);
  CHECK((a.du - b.du).cwiseAbs().maxCoeff() <= 1e-10 * scale);
}

// sample_moments draws S = X^T X / n by Bartlett's decomposition instead of
// through X. Its entries must have the Wishart moments of the prompts' S:
// E[S] = Sigma and Var(S_ij) = (Sigma_ij^2 + Sigma_ii Sigma_jj) / n. Each check is
// a z-score over K draws with the draws' own standard error; |z| <= 5 fails by
// chance with probability ~6e-7 per entry, while an off-by-one chi^2 degree
// moves E[S_ii] by Sigma_ii / n, tens of standard errors at K = 20000.
TEST_CASE("the moment sampler draws the prompts' distribution of S and b", "[looped]") {
  const int K = 20000;
  // One task at a time and the batch (8 streams, the path training uses).
  for (const bool batched : {false, true})
  for (const int n : {4, 7, 40, 2}) {  // n = d, n > d, n >> d, n < d (drawn through X)
    const int d = 4;
    INFO("n " << n << (batched ? " batched" : " one at a time"));
    const Eigen::MatrixXd sigma = anisotropic_covariance(d, 10.0, 5);
    RegressionTaskSampler sampler(d, n, sigma, 77);
    const std::vector<TaskMoments> batch = batched ? sampler.sample_moments(K) : std::vector<TaskMoments>{};
    Eigen::ArrayXXd sum = Eigen::ArrayXXd::Zero(d, d), sum2 = sum, sq = sum, sq2 = sum;
    for (int k = 0; k < K; ++k) {
      const TaskMoments m = batched ? batch[std::size_t(k)] : sampler.sample_moments();
      REQUIRE((m.b - m.S * m.w_star).cwiseAbs().maxCoeff() <= 1e-12 * (1 + m.b.cwiseAbs().maxCoeff()));
      REQUIRE(m.y_query == Approx(m.x_query.dot(m.w_star)).epsilon(1e-14));
      const Eigen::ArrayXXd s = m.S.array(), s2 = s.square();
      sum += s, sum2 += s2, sq += s2, sq2 += s2.square();
    }
    const Eigen::ArrayXXd s_ = sigma.array(), diag = sigma.diagonal() * sigma.diagonal().transpose();
    const Eigen::ArrayXXd mean = sum / K, mean2 = sum2 / K;
    const Eigen::ArrayXXd expected2 = s_.square() + (s_.square() + diag.array()) / n;
    const Eigen::ArrayXXd se1 = ((mean2 - mean.square()) / K).sqrt();
    const Eigen::ArrayXXd se2 = ((sq2 / K - mean2.square()) / K).sqrt();
    CHECK(((mean - s_) / se1).abs().maxCoeff() <= 5);
    CHECK(((mean2 - expected2) / se2).abs().maxCoeff() <= 5);
  }
}

TEST_CASE("a batch of moments is the same for any thread count", "[looped]") {
  const auto draw = [](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    auto tasks = RegressionTaskSampler(3, 9, anisotropic_covariance(3, 5.0, 2), 11).sample_moments(101);
    omp_set_num_threads(saved);
    return tasks;
  };
  const auto one = draw(1), two = draw(2), three = draw(3);
  for (std::size_t k = 0; k < one.size(); ++k) {
    INFO("task " << k);
    REQUIRE(one[k].S == two[k].S);
    REQUIRE(one[k].S == three[k].S);
    REQUIRE(one[k].x_query == three[k].x_query);
  }
}

namespace {

// The training loss of a stack from the recursion itself, for finite differences.
double stack_loss(const LayerStack& stack, const std::vector<TaskMoments>& tasks, int loops) {
  double sum = 0;
  for (const auto& t : tasks) {
    Eigen::VectorXd w = Eigen::VectorXd::Zero(t.S.rows());
    for (int i = 0; i < loops; ++i) {
      const auto& l = layer_at(stack, i);
      w += l.A * (t.b - t.S * (w - l.u));
    }
    sum += std::pow(t.x_query.dot(w) - t.y_query, 2);
  }
  return sum / double(tasks.size());
}

}  // namespace

TEST_CASE("the per-layer gradient matches central differences and sums to the shared one", "[looped]") {
  // Error budget as in the finite-difference test above.
  const int d = 3, n = 6, loops = 3;
  RegressionTaskSampler sampler(d, n, anisotropic_covariance(d, 10.0, 4), 19);
  const auto tasks = sampler.sample_moments(8);
  LayerStack stack;
  for (int l = 0; l < loops; ++l) stack.push_back(test_parameters(sampler, true, 50 + 7 * l));
  const StackGradient g = training_loss_gradient(stack, tasks, loops);
  CHECK(g.loss == Approx(stack_loss(stack, tasks, loops)).epsilon(1e-12));
  double scale = 0;
  for (const auto& l : g.grad) scale = std::max({scale, l.A.cwiseAbs().maxCoeff(), l.u.cwiseAbs().maxCoeff()});
  const auto central = [&](double& entry) {
    return central_difference([&] { return stack_loss(stack, tasks, loops); }, entry);
  };
  for (int l = 0; l < loops; ++l) {
    INFO("layer " << l);
    for (int j = 0; j < d; ++j)
      for (int i = 0; i < d; ++i) CHECK(std::abs(g.grad[l].A(i, j) - central(stack[l].A(i, j))) <= 1e-7 * scale);
    for (int i = 0; i < d; ++i) CHECK(std::abs(g.grad[l].u[i] - central(stack[l].u[i])) <= 1e-7 * scale);
  }
  // T copies of one layer: the shared gradient is the sum of the layers'.
  const LayerStack copies(loops, stack[1]);
  const StackGradient per_layer = training_loss_gradient(copies, tasks, loops);
  const StackGradient shared = training_loss_gradient(LayerStack{stack[1]}, tasks, loops);
  Eigen::MatrixXd dA = Eigen::MatrixXd::Zero(d, d);
  Eigen::VectorXd du = Eigen::VectorXd::Zero(d);
  for (const auto& l : per_layer.grad) dA += l.A, du += l.u;
  CHECK(per_layer.loss == Approx(shared.loss).epsilon(1e-14));
  CHECK((dA - shared.grad[0].A).cwiseAbs().maxCoeff() <= 1e-13 * scale);
  CHECK((du - shared.grad[0].u).cwiseAbs().maxCoeff() <= 1e-13 * scale);
  require_invalid([&] { training_loss_gradient(LayerStack(2, stack[0]), tasks, loops); }, "layers");
}

TEST_CASE("non-looped training learns per-layer weights and train_u = false keeps u at 0", "[looped][training]") {
  const int d = 4, n = 16, loops = 3;
  TrainerOptions o;
  o.steps = 300;
  o.batch = 128;
  o.learning_rate = 0.02;
  o.eval_every = 100;
  o.eval_tasks = 500;
  o.test_tasks = 5000;
  o.weight_sharing = false;
  o.train_u = false;
  const auto r = train_looped(d, n, Eigen::MatrixXd::Identity(d, d), loops, o);
  REQUIRE(r.layers.size() == std::size_t(loops));
  for (const auto& l : r.layers) CHECK(l.u.isZero(0));
  CHECK(r.curve.back().eval_loss < 0.5 * r.curve.front().eval_loss);
}

TEST_CASE("optimal one-step GD matches the Wishart closed form", "[looped][slow]") {
  // Sigma = I, T = 1: E||(I - a S) w*||^2 = d - 2 a d + a^2 d (n + d + 1) / n is
  // minimised at a = n / (n + d + 1) with normalised loss (d + 1) / (n + d + 1).
  // 40000 tasks: the Monte Carlo loss has a relative standard error of ~0.5%.
  const int d = 10, n = 20;
  const auto tasks = RegressionTaskSampler(d, n, 12).sample(40000);
  const auto search = best_step(tasks, Eigen::MatrixXd::Identity(d, d), Eigen::MatrixXd::Identity(d, d), 1);
  CHECK(search.scale == Approx(double(n) / (n + d + 1)).epsilon(0.03));
  CHECK(search.loss.back() == Approx(double(d + 1) / (n + d + 1)).epsilon(0.02));
  CHECK(search.loss.front() == Approx(1.0).epsilon(0.02));  // w_0 = 0 predicts 0: loss E[y^2]
}

// The search folds base into each task once (base S_k, base b_k); its minimum
// must be a minimum of the loss as normalized_test_losses computes it for
// A = a base, and a bad base or sigma is refused by name.
TEST_CASE("the step search minimises the loss of A = a base", "[looped]") {
  const int d = 5, n = 12, loops = 3;
  Eigen::MatrixXd sigma = Eigen::MatrixXd::Identity(d, d);
  sigma.diagonal() << 1, 2, 4, 6, 10;
  const auto tasks = RegressionTaskSampler(d, n, sigma, 4).sample(3000);
  const Eigen::MatrixXd base = sigma.inverse();
  const auto search = best_step(tasks, sigma, base, loops);
  const auto loss = [&](double a) {
    return normalized_test_losses(tasks, sigma, {a * base, Eigen::VectorXd::Zero(d)}, loops).back();
  };
  // Golden section stops at 1e-6 in log a: 1% either side is no better.
  CHECK(search.loss.back() <= loss(search.scale * 1.01));
  CHECK(search.loss.back() <= loss(search.scale / 1.01));
  CHECK_THROWS_WITH(best_step(tasks, sigma, Eigen::MatrixXd::Identity(d + 1, d + 1), loops), Catch::Contains("base"));
  Eigen::MatrixXd bad = base;
  bad(1, 2) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH(best_step(tasks, sigma, bad, loops), Catch::Contains("base"));
  CHECK_THROWS_WITH(best_step(tasks, Eigen::MatrixXd::Identity(d + 1, d + 1), Eigen::MatrixXd::Identity(d + 1, d + 1),
                              loops), Catch::Contains("sigma"));
}

TEST_CASE("trained one-loop model reaches (d+1)/(n+d+1) for Sigma = I d = 10 n = 20", "[looped][training][slow]") {
  const int d = 10, n = 20;
  TrainerOptions o;
  o.steps = 600;
  o.batch = 256;
  o.learning_rate = 0.02;
  o.eval_every = 100;
  o.eval_tasks = 500;
  o.test_tasks = 40000;
  o.seed = 3;
  const auto result = train_looped(d, n, Eigen::MatrixXd::Identity(d, d), 1, o);
  const double optimum = double(d + 1) / (n + d + 1);
  INFO("test loss " << result.test_loss << " closed form " << optimum);
  CHECK(std::abs(result.test_loss / optimum - 1) <= 0.05);
  CHECK(result.curve.back().distance < 0.1);  // A ~ a I
  CHECK(result.curve.front().eval_loss > result.curve.back().eval_loss);
}

TEST_CASE("bad looped parameters are refused naming the argument", "[looped][errors]") {
  require_invalid([] { RegressionTaskSampler(0, 5, 1); }, "d");
  require_invalid([] { RegressionTaskSampler(3, 0, 1); }, "n");
  Eigen::MatrixXd asymmetric = Eigen::MatrixXd::Identity(3, 3);
  asymmetric(0, 1) = 0.5;
  require_invalid([&] { RegressionTaskSampler(3, 5, asymmetric, 1); }, "sigma");
  Eigen::MatrixXd indefinite = Eigen::MatrixXd::Identity(3, 3);
  indefinite(2, 2) = -1;
  require_invalid([&] { RegressionTaskSampler(3, 5, indefinite, 1); }, "sigma");
  Eigen::MatrixXd singular = Eigen::MatrixXd::Ones(3, 3);
  require_invalid([&] { RegressionTaskSampler(3, 5, singular, 1); }, "sigma");
  require_invalid([] { RegressionTaskSampler(3, 5, Eigen::MatrixXd::Identity(2, 2), 1); }, "sigma");
  Eigen::MatrixXd nan = Eigen::MatrixXd::Identity(3, 3);
  nan(1, 1) = std::numeric_limits<double>::quiet_NaN();
  require_invalid([&] { RegressionTaskSampler(3, 5, nan, 1); }, "sigma");

  TrainerOptions o;
  o.batch = 0;
  require_invalid([&] { train_looped(3, 5, Eigen::MatrixXd::Identity(3, 3), 1, o); }, "batch");
  o = TrainerOptions{};
  o.optimizer = "lbfgs";
  require_invalid([&] { train_looped(3, 5, Eigen::MatrixXd::Identity(3, 3), 1, o); }, "optimizer");
  o = TrainerOptions{};
  o.gradient = "numerical";
  require_invalid([&] { train_looped(3, 5, Eigen::MatrixXd::Identity(3, 3), 1, o); }, "gradient");
  o = TrainerOptions{};
  o.sampler = "wishart";
  require_invalid([&] { train_looped(3, 5, Eigen::MatrixXd::Identity(3, 3), 1, o); }, "sampler");
  o.sampler = "moments";
  o.gradient = "transformer";
  require_invalid([&] { train_looped(3, 5, Eigen::MatrixXd::Identity(3, 3), 1, o); }, "sampler");
  o.sampler = "prompts";
  o.weight_sharing = false;
  require_invalid([&] { train_looped(3, 5, Eigen::MatrixXd::Identity(3, 3), 2, o); }, "weight_sharing");
  require_invalid([&] { train_looped(3, 5, Eigen::MatrixXd::Identity(3, 3), 0, TrainerOptions{}); }, "loops");
  require_invalid([&] { train_looped(3, 0, Eigen::MatrixXd::Identity(3, 3), 1, TrainerOptions{}); }, "n");
  require_invalid([] { parse_attention_form("cubic"); }, "form");
  RegressionTaskSampler s(3, 5, 1);
  LoopedParameters wrong{Eigen::MatrixXd::Identity(2, 2), Eigen::VectorXd::Zero(3)};
  require_invalid([&] { looped_prediction(wrong, prompt_matrix(s.sample()), 1); }, "A");
}
