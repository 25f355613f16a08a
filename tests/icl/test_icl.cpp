// In-context deep learning (issue 6): the N-layer network's Lemma-1 gradient is
// the derivative of its loss, the ReLU sums meet their bounds, and the explicit
// (2N+4)L-layer transformer performs projected GD within the a-priori error
// budget, counts its layers as Theorem 1 does, and refuses inputs outside the
// ranges its ReLU sums were fitted for.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/icl/icgd_transformer.hpp>
#include <lorafgc/icl/network.hpp>
#include <lorafgc/icl/projected_gd.hpp>
#include <lorafgc/icl/relu_sum.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <cmath>
#include <limits>

using namespace lorafgc::icl;
using lorafgc::InvalidArgument;
using lorafgc::NumericalError;
using lorafgc::test::random_matrix;

namespace {

constexpr double kUnit = std::numeric_limits<double>::epsilon();

NetworkShape shape(int N, int K, int d, int d_out) { return {N, K, d, d_out}; }

// Inputs in [-B, B]: uniform draws clipped from a scaled normal.
Eigen::MatrixXd bounded(int rows, int cols, std::uint64_t seed, double B) {
  return random_matrix(rows, cols, seed, B / 2).cwiseMax(-B).cwiseMin(B);
}

IcgdConfig small_config(int N, Activation act, double tolerance) {
  IcgdConfig c;
  c.shape = shape(N, 4, 5, 2);
  c.activation = act;
  c.examples = 12;
  c.eta = 0.5;
  c.radius = 0.6;
  c.input_bound = 1.5;
  c.label_bound = 2.0;
  c.steps = 3;
  c.fit.tolerance = tolerance;
  return c;
}

struct Prompt {
  Eigen::MatrixXd X, Y;
  Eigen::VectorXd x_query, w0;
};

Prompt make_prompt(const IcgdConfig& c, std::uint64_t seed) {
  const auto& s = c.shape;
  // Examples as rows: the transposes of the column-drawn matrices.
  return {bounded(s.input_dim, c.examples, seed, c.input_bound).transpose(),
          bounded(s.output_dim, c.examples, seed + 1, c.label_bound).transpose(),
          bounded(s.input_dim, 1, seed + 2, c.input_bound), bounded(int(s.parameter_count()), 1, seed + 3, c.radius)};
}

}  // namespace

TEST_CASE("Lemma-1 gradient equals central finite differences of L_n", "[icl]") {
  for (auto act : {Activation::softplus, Activation::sigmoid}) {
    for (int N : {1, 2, 3, 4}) {
      const NetworkShape s = shape(N, 3, 4, 2);
      const Eigen::VectorXd w = random_matrix(int(s.parameter_count()), 1, 11 + N, 0.7);
      const Eigen::MatrixXd X = random_matrix(4, 9, 5).transpose(), Y = random_matrix(2, 9, 6).transpose();
      const Eigen::VectorXd g = loss_gradient(s, act, w, X, Y);
      // Central differences at h = 1e-5: truncation h^2 |L'''| / 6 ~ 1e-11 and
      // rounding u |L| / h ~ 1e-11, so 1e-8 of max|g| leaves three digits of margin.
      const double h = 1e-5;
      double worst = 0;
      for (Eigen::Index m = 0; m < w.size(); ++m) {
        Eigen::VectorXd up = w, down = w;
        up(m) += h;
        down(m) -= h;
        const double fd = (empirical_loss(s, act, up, X, Y) - empirical_loss(s, act, down, X, Y)) / (2 * h);
        worst = std::max(worst, std::abs(fd - g(m)));
      }
      INFO(activation_name(act) << " N = " << N);
      CHECK(worst <= 1e-8 * g.cwiseAbs().maxCoeff());
    }
  }
}

TEST_CASE("projected GD stays in the box and takes the plain step inside it", "[icl]") {
  const NetworkShape s = shape(3, 4, 5, 1);
  const Eigen::MatrixXd X = random_matrix(5, 10, 1).transpose(), Y = random_matrix(1, 10, 2).transpose();
  const Eigen::VectorXd w0 = bounded(int(s.parameter_count()), 1, 3, 0.3);
  const auto path = projected_gd(s, Activation::softplus, w0, X, Y, 5.0, 0.3, 4);
  REQUIRE(path.size() == 5);
  for (const auto& w : path) CHECK(w.lpNorm<Eigen::Infinity>() <= 0.3);
  const Eigen::VectorXd step = w0 - 5.0 * loss_gradient(s, Activation::softplus, w0, X, Y);
  CHECK((path[1] - step.cwiseMax(-0.3).cwiseMin(0.3)).norm() == 0.0);
  CHECK((step - path[1]).norm() > 0);  // the projection was active
  CHECK_THROWS_AS(projected_gd(s, Activation::softplus, w0, X, Y, -1.0, 0.3, 1), InvalidArgument);
  CHECK_THROWS_WITH(projected_gd(s, Activation::softplus, 2 * w0.cwiseSign(), X, Y, 1.0, 0.3, 1),
                    Catch::Contains("w0"));
}

TEST_CASE("ReLU sums meet their interpolation bound on the whole range", "[icl]") {
  for (auto act : {Activation::softplus, Activation::sigmoid}) {
    for (auto which : {FittedFunction::r, FittedFunction::r_prime}) {
      for (double range : {1.0, 12.0, 300.0}) {
        const ReluSum fit = fit_relu_sum(act, which, range, FitTarget{1e-5, 0});
        INFO(activation_name(act) << " range " << range);
        CHECK(fit.error_bound <= 1e-5);
        const double measured = measured_error(fit, act, which, 40001);
        CHECK(measured <= fit.error_bound + 1e3 * kUnit * (1 + range));
        CHECK(measured >= 0.05 * fit.error_bound);  // the bound is not vacuous
        for (double t : fit.knots) CHECK(std::abs(fit(t) - evaluate(act, which, t)) <= 1e3 * kUnit * (1 + range));
        for (const auto& u : fit.units) CHECK(std::abs(std::abs(u.slope) + std::abs(u.shift) - 1.0) <= 1e-14);
      }
    }
  }
  // A unit budget is respected, and more units fit better.
  const ReluSum coarse = fit_relu_sum(Activation::softplus, FittedFunction::r, 50.0, FitTarget{0, 15});
  const ReluSum fine = fit_relu_sum(Activation::softplus, FittedFunction::r, 50.0, FitTarget{0, 121});
  CHECK(coarse.units.size() <= 15);
  CHECK(fine.units.size() <= 121);
  CHECK(fine.units.size() >= 115);
  CHECK(fine.error_bound < coarse.error_bound / 30);
  CHECK_THROWS_WITH(fit_relu_sum(Activation::softplus, FittedFunction::r, 5.0, FitTarget{1e-3, 9}),
                    Catch::Contains("fit_tolerance"));
  CHECK_THROWS_WITH(fit_relu_sum(Activation::softplus, FittedFunction::r, 5.0, FitTarget{0, 2}),
                    Catch::Contains("relu_units"));
}

TEST_CASE("the ICGD transformer has exactly (2N+4)L layers of the right kinds", "[icl]") {
  for (int N : {1, 3, 5}) {
    for (int L : {1, 4}) {
      IcgdConfig c = small_config(N, Activation::softplus, 1e-3);
      c.steps = L;
      const IcgdTransformer t(c);
      CHECK(t.gd_layer_count() == (2 * N + 4) * L);
      CHECK(int(t.layers().size()) == (2 * N + 4) * L + N);  // plus the readout
      for (int l = 0; l < L; ++l) {
        const auto kind = [&](int i) { return t.layers()[l * (2 * N + 4) + i]->kind; };
        for (int j = 0; j <= N; ++j) CHECK(kind(j) == LayerKind::relu_attention);
        CHECK(kind(N + 1) == LayerKind::mlp);
        for (int j = N + 2; j < 2 * N + 2; ++j) CHECK(kind(j) == LayerKind::elementwise_multiplication);
        CHECK(kind(2 * N + 2) == LayerKind::relu_attention);
        CHECK(kind(2 * N + 3) == LayerKind::mlp);
      }
    }
  }
}

TEST_CASE("N = 3: every transformer step is the projected GD step within eta * eps", "[icl][slow]") {
  for (auto act : {Activation::softplus, Activation::sigmoid}) {
    const IcgdConfig c = small_config(3, act, 1e-9);
    const IcgdTransformer t(c);
    const Prompt p = make_prompt(c, 21);
    const IcgdRun run = t.run(p.X, p.Y, p.x_query, p.w0);
    REQUIRE(run.w.size() == std::size_t(c.steps + 1));
    CHECK(run.w[0] == p.w0);
    const double eps = t.bounds().gradient_error;
    INFO(activation_name(act) << ": a-priori gradient error bound " << eps);
    const Eigen::VectorXd first = projected_gd(c.shape, act, p.w0, p.X, p.Y, c.eta, c.radius, 1).back();
    INFO("first step " << (first - p.w0).norm() << ", gap " << (run.w[1] - first).norm());
    CHECK(c.eta * eps < 1e-5 * (first - p.w0).norm());  // enough heads make the bound itself tight
    for (int l = 0; l < c.steps; ++l) {
      // The theorem's claim, step by step: w^{l+1} = Proj(w^l - eta grad L_n(w^l) + e), ||e|| <= eta eps.
      // Rounding adds ~1e3 u (sums over heads and tokens) per entry.
      const Eigen::VectorXd direct = projected_gd(c.shape, act, run.w[l], p.X, p.Y, c.eta, c.radius, 1).back();
      const double gap = (run.w[l + 1] - direct).norm();
      CHECK(gap <= c.eta * eps + 1e4 * kUnit * std::sqrt(double(direct.size())));
      CHECK(gap > 0);  // the fitted sums are not the activations themselves
    }
    // The first step against the direct step from the same w0: tight.
    CHECK((run.w[1] - first).norm() <= 1e-7 * (first - p.w0).norm());
    // The readout is f(w^L, x_q) up to the forward error bound delta_N.
    const Eigen::VectorXd f = predict(c.shape, act, run.w.back(), p.x_query.transpose()).transpose();
    CHECK((run.prediction - f).lpNorm<Eigen::Infinity>() <= t.bounds().forward_error[3] + 1e3 * kUnit);
  }
}

TEST_CASE("the error bound falls with the fit tolerance and the gap follows", "[icl]") {
  double previous_gap = 1e300, previous_bound = 1e300;
  for (double tol : {1e-3, 1e-5, 1e-7}) {
    const IcgdConfig c = small_config(3, Activation::softplus, tol);
    const IcgdTransformer t(c);
    const Prompt p = make_prompt(c, 5);
    const IcgdRun run = t.run(p.X, p.Y, p.x_query, p.w0);
    const Eigen::VectorXd direct = projected_gd(c.shape, c.activation, p.w0, p.X, p.Y, c.eta, c.radius, 1).back();
    const double gap = (run.w[1] - direct).norm();
    CHECK(gap <= c.eta * t.bounds().gradient_error);
    CHECK(gap < previous_gap);
    CHECK(t.bounds().gradient_error < previous_bound);
    previous_gap = gap;
    previous_bound = t.bounds().gradient_error;
  }
}

TEST_CASE("a gradient-accuracy or unit budget configures the fits", "[icl]") {
  IcgdConfig c = small_config(3, Activation::sigmoid, 0);
  c.gradient_accuracy = 1e-4;
  const IcgdTransformer by_accuracy(c);
  CHECK(by_accuracy.bounds().gradient_error <= 1e-4);
  CHECK(by_accuracy.bounds().gradient_error >= 0.5e-4);  // not needlessly fine
  c.gradient_accuracy = 0;
  c.fit.units = 25;
  const IcgdTransformer by_units(c);
  CHECK(by_units.fit_r().units.size() <= 25);
  CHECK(by_units.fit_r_prime().units.size() <= 25);
  // Forward layers hold K * units heads.
  CHECK(by_units.layers()[0]->heads.size() == 4 * by_units.fit_r().units.size());
}

TEST_CASE("inputs outside the fitted ranges are refused, not run", "[icl]") {
  const IcgdConfig c = small_config(3, Activation::softplus, 1e-4);
  const IcgdTransformer t(c);
  Prompt p = make_prompt(c, 9);
  Prompt big_x = p;
  big_x.X(3, 2) = 1.01 * c.input_bound;
  CHECK_THROWS_WITH(t.run(big_x.X, big_x.Y, big_x.x_query, big_x.w0), Catch::StartsWith("X:"));
  Prompt big_q = p;
  big_q.x_query(0) = -2 * c.input_bound;
  CHECK_THROWS_WITH(t.run(big_q.X, big_q.Y, big_q.x_query, big_q.w0), Catch::StartsWith("x_query:"));
  Prompt big_y = p;
  big_y.Y(0, 1) = 3 * c.label_bound;
  CHECK_THROWS_WITH(t.run(big_y.X, big_y.Y, big_y.x_query, big_y.w0), Catch::StartsWith("Y:"));
  Prompt big_w = p;
  big_w.w0(4) = 1.5 * c.radius;
  CHECK_THROWS_WITH(t.run(big_w.X, big_w.Y, big_w.x_query, big_w.w0), Catch::StartsWith("w0:"));
  Prompt nan = p;
  nan.X(0, 0) = std::nan("");
  CHECK_THROWS_AS(t.run(nan.X, nan.Y, nan.x_query, nan.w0), InvalidArgument);
  CHECK_THROWS_WITH(t.run(p.X.topRows(5), p.Y.topRows(5), p.x_query, p.w0), Catch::Contains("n = 12"));

  // Past the checks, the layers' own guards still catch it: an x far outside
  // B_x drives a pre-activation outside the fitted range.
  Eigen::MatrixXd H = t.prompt(p.X, p.Y, p.x_query, p.w0);
  H.block(t.layout().x, 0, c.shape.input_dim, 1).setConstant(1e3);
  CHECK_THROWS_AS(t.run_tokens(H), NumericalError);
  CHECK_THROWS_WITH(t.run_tokens(H), Catch::Contains("forward 1") && Catch::Contains("fitted"));
  // Inside the bounds the guards never fire (the ranges are a-priori bounds).
  CHECK_NOTHROW(t.run_tokens(t.prompt(p.X, p.Y, p.x_query, p.w0)));
}

TEST_CASE("bad ICGD configurations are refused by name", "[icl]") {
  const auto refused = [](auto change, const char* name) {
    IcgdConfig c = small_config(2, Activation::softplus, 1e-3);
    change(c);
    CHECK_THROWS_WITH(IcgdTransformer(c), Catch::StartsWith(std::string(name) + ":"));
  };
  refused([](IcgdConfig& c) { c.shape.layers = 0; }, "N");
  refused([](IcgdConfig& c) { c.shape.width = 0; }, "K");
  refused([](IcgdConfig& c) { c.shape.input_dim = 0; }, "d");
  refused([](IcgdConfig& c) { c.shape.output_dim = 0; }, "d_out");
  refused([](IcgdConfig& c) { c.examples = 0; }, "n");
  refused([](IcgdConfig& c) { c.eta = 0; }, "eta");
  refused([](IcgdConfig& c) { c.radius = std::nan(""); }, "radius");
  refused([](IcgdConfig& c) { c.input_bound = -1; }, "input_bound");
  refused([](IcgdConfig& c) { c.label_bound = std::numeric_limits<double>::infinity(); }, "label_bound");
  refused([](IcgdConfig& c) { c.steps = 0; }, "steps");
  refused([](IcgdConfig& c) { c.fit.units = 10; }, "fit_tolerance");
  refused([](IcgdConfig& c) { c.gradient_accuracy = 1e-3; }, "fit_tolerance");
  refused([](IcgdConfig& c) { c.fit.tolerance = 0; }, "fit_tolerance");
  refused([](IcgdConfig& c) { c.fit.tolerance = 1e-16; }, "fit_tolerance");
  CHECK_THROWS_WITH(parse_activation("relu"), Catch::StartsWith("activation:"));
}
