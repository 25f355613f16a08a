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
      const double h = 1e-5;
      const double scale = std::max(g.dA.cwiseAbs().maxCoeff(), g.du.cwiseAbs().maxCoeff());
      auto central = [&](double& entry) {
        const double saved = entry;
        entry = saved + h;
        const double up = training_loss(params, tasks, loops);
        entry = saved - h;
        const double down = training_loss(params, tasks, loops);
        entry = saved;
        return (up - down) / (2 * h);
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
// A = a base, and a bad base is refused by name before any work.
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
  CHECK(search.loss.back() == Approx(loss(search.scale)).epsilon(1e-12));
  // Golden section stops at 1e-6 in log a: 1% either side is no better.
  CHECK(search.loss.back() <= loss(search.scale * 1.01));
  CHECK(search.loss.back() <= loss(search.scale / 1.01));
  CHECK_THROWS_WITH(best_step(tasks, sigma, Eigen::MatrixXd::Identity(d + 1, d + 1), loops), Catch::Contains("base"));
  Eigen::MatrixXd bad = base;
  bad(1, 2) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH(best_step(tasks, sigma, bad, loops), Catch::Contains("base"));
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
  require_invalid([&] { train_looped(3, 5, Eigen::MatrixXd::Identity(3, 3), 0, TrainerOptions{}); }, "loops");
  require_invalid([&] { train_looped(3, 0, Eigen::MatrixXd::Identity(3, 3), 1, TrainerOptions{}); }, "n");
  require_invalid([] { parse_attention_form("cubic"); }, "form");
  RegressionTaskSampler s(3, 5, 1);
  LoopedParameters wrong{Eigen::MatrixXd::Identity(2, 2), Eigen::VectorXd::Zero(3)};
  require_invalid([&] { looped_prediction(wrong, prompt_matrix(s.sample()), 1); }, "A");
}
