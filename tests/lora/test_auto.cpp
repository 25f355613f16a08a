// auto: the plan over the registry's error models and the run of its choice.
#include "lora_support.hpp"

#include <lorafgc/lora/auto_plan.hpp>

#include "lora/auto_select/beta_sensitivity.hpp"
#include "lora/common/error_models.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>

using namespace lorafgc;
using namespace lorafgc::lora;

namespace {

GeneratorConfig instance(long long L, double score_bound, InstanceFamily family = InstanceFamily::Gaussian) {
  auto c = test::config(L, 8, 4, Adaptation::Partial, 1.0, 5);
  c.score_bound = score_bound;
  c.family = family;
  return c;
}

ProblemShape d8_shape(long long L, double score_bound) {
  ProblemShape s;
  s.length = L;
  s.width = 8;
  s.rank = 4;
  s.score_bound = score_bound;
  return s;
}

const PlanRow& row_of(const AutoPlan& plan, const std::string& algorithm) {
  for (const PlanRow& r : plan.rows)
    if (r.algorithm == algorithm) return r;
  FAIL("no row for " << algorithm);
  throw;
}

AutoOptions uncalibrated(double target) {
  AutoOptions o;
  o.target_error = target;
  o.calibrated = false;
  return o;
}

std::string argument_refused(const std::function<void()>& f) {
  try {
    f();
  } catch (const InvalidArgument& e) {
    return e.argument();
  }
  return "";
}

}  // namespace

TEST_CASE("auto refuses a target error outside (0, 1) and a margin below 1, naming them", "[auto]") {
  for (const char* bad : {"0", "1", "-1e-3", "2", "nan"})
    CHECK(argument_refused([&] { make_algorithm(std::string("auto:target_error=") + bad); }) ==
          "option 'target_error'");
  CHECK(argument_refused([] { make_algorithm("auto:margin=0.5"); }) == "option 'margin'");
  AutoOptions o;
  o.target_error = 0;
  CHECK(argument_refused([&] { validate(o); }) == "target_error");
  o.target_error = 1e-3;
  o.margin = 0.5;
  CHECK(argument_refused([&] { validate(o); }) == "margin");
}

// Every row within reach has a spec, a finite cost and a prediction; the choice
// is the one with the smallest prediction; auto returns what that spec returns,
// and records the plan.
TEST_CASE("auto runs the candidate its plan predicts fastest and records why", "[auto]") {
  for (double T : {0.5, 2.0, 6.0}) {
    const auto p = generate<float>(instance(2048, T));
    const AutoPlan plan = plan_auto(p, uncalibrated(1e-3));
    INFO("T_cs = " << T);
    REQUIRE(plan.chosen >= 0);
    const PlanRow& chosen = plan.rows[static_cast<std::size_t>(plan.chosen)];
    for (const PlanRow& r : plan.rows) {
      INFO(r.algorithm << ": " << r.reason);
      if (!r.reason.empty()) continue;
      CHECK(!r.spec.empty());
      CHECK((std::isfinite(r.predicted_seconds) && r.predicted_seconds > 0));
      CHECK(chosen.predicted_seconds <= r.predicted_seconds);
      CHECK(r.expected_error <= 1e-3);
    }
    const Gradients<float> g = make_algorithm("auto:calibrated=false")->compute(p);
    const Gradients<float> direct = make_algorithm(chosen.spec)->compute(p);
    // Two runs of one spec differ by the order of their sums (OpenMP, BLAS
    // threads): the chosen registration's rounding tolerance between thread counts.
    CHECK(compare_gradients(g, direct).max_rel <= registration(chosen.algorithm).accuracy.tolerance(sizeof(float)));
    CHECK(g.info.at("chosen[" + chosen.spec + "]") == 1);
    CHECK(g.info.at("predicted_seconds") == Approx(chosen.predicted_seconds).epsilon(1e-12));
    CHECK(g.info.at("target_error") == 1e-3);
    // exact is costed, or skipped because its cost (its own floor) could not win.
    CHECK(g.info.count("predicted_seconds[exact]") + g.info.count("predicted_seconds_at_least[exact]") == 1);
  }
}

// The instance's plan costs what the run then performs: the polynomial's
// degree from the certified range, poly-hybrid's outliers from the norms.
TEST_CASE("instance_cost is the plan the run reports", "[auto][cost]") {
  for (const char* spec : {"poly-cheb", "poly-hybrid", "poly-hybrid:outliers=16", "poly-taylor:eps=1e-4"}) {
    const auto p = generate<float>(instance(4096, 20.0, InstanceFamily::Llm));
    const auto a = make_algorithm(spec);
    const Gradients<float> g = a->compute(p);
    INFO(spec);
    CHECK(a->instance_cost(p, shape_of(p)).flops == Approx(g.info.at("flops")).epsilon(1e-12));
  }
  // Without a data-dependent plan it is the shape's cost.
  const auto p = generate<double>(instance(300, 1.0));
  const auto exact = make_algorithm("exact");
  CHECK(exact->instance_cost(p, shape_of(p)).flops == exact->cost(shape_of(p), 8).flops);
}

// With a target only float64's rounding meets, float32 has no candidate: the
// run says so and names the closest.
TEST_CASE("auto with no algorithm able to meet the target says so and names the closest", "[auto]") {
  const auto p = generate<float>(instance(512, 1.0));
  const AutoPlan plan = plan_auto(p, uncalibrated(1e-7));
  CHECK(plan.chosen < 0);
  REQUIRE(plan.closest >= 0);
  try {
    make_algorithm("auto:target_error=1e-7,calibrated=false")->compute(p);
    FAIL("ran");
  } catch (const InvalidArgument& e) {
    CHECK(e.argument() == "target_error");
    const std::string why = e.what();
    CHECK(why.find("no registered algorithm meets target_error = 1e-07 in float32") != std::string::npos);
    CHECK(why.find("the closest is " + plan.rows[static_cast<std::size_t>(plan.closest)].algorithm) !=
          std::string::npos);
  }
  // In float64 the same target is met, and the result meets it.
  const auto pd = generate<double>(instance(512, 1.0));
  const Gradients<double> g = make_algorithm("auto:target_error=1e-7,calibrated=false")->compute(pd);
  CHECK(compare_gradients(g, make_algorithm("exact-reference")->compute(pd)).max_rel <= 1e-7);
}

TEST_CASE("the error models say what meets a target and why not", "[auto][model]") {
  ProblemShape s = d8_shape(16384, 1.0);
  // exact: 2 u sqrt(L) max(1, T).
  const TargetOptions exact = registration("exact").error_model(1e-3, s, 4);
  CHECK(exact.reason.empty());
  CHECK(exact.expected_error == Approx(2 * std::numeric_limits<float>::epsilon() / 2 * 128));
  CHECK(!registration("exact").error_model(1e-6, s, 4).reason.empty());
  CHECK(registration("exact").error_model(1e-6, s, 8).reason.empty());
  // The polynomial: eps = the target; float's floor.
  const TargetOptions cheb = registration("poly-cheb").error_model(2.5e-4, s, 4);
  CHECK(cheb.options == "eps=0.00025");
  CHECK(make_algorithm("poly-cheb:" + cheb.options)->options().real("eps") == 2.5e-4);
  CHECK(registration("poly-hybrid").error_model(1e-3, s, 4).calibration_algorithm == "poly-cheb");
  CHECK(!registration("poly-cheb").error_model(1e-6, s, 4).reason.empty());
  // favor: (4.71 / target)^(1 / 0.432) features, within 2^24 at 0.05, not at 1e-3.
  const TargetOptions favor = registration("favor").error_model(0.05, s, 4);
  CHECK(favor.reason.empty());
  const auto m = make_algorithm("favor:" + favor.options)->options().integer("features");
  CHECK(m == static_cast<long long>(std::ceil(std::pow(4.71 / 0.05, 1 / 0.432))));
  CHECK(4.71 * std::pow(static_cast<double>(m), -0.432) <= 0.05);
  CHECK(registration("favor").error_model(1e-3, s, 4).reason.find("features") != std::string::npos);
  // Outside the score bound it was measured at.
  s.score_bound = 3.0;
  CHECK(registration("poly-sketch").error_model(0.05, s, 4).reason.find("T <= 1") != std::string::npos);
}

// exact's rounding model envelopes its float32 error in auto's measure (max_rel
// over all gradients together) where it was largest in the regret runs: the
// adversarial family at the highest score bounds (0.4-0.7 u sqrt(L) T with the
// fused kernel's single-level sums; 0.007 with two-level sums, against the
// model's 2). And it does not refuse exact at L = 2^16, T = 8, where exact's
// error is far below 1e-3 (the envelope of 16 did).
TEST_CASE("exact's rounding model envelopes its float32 error", "[auto][model]") {
  for (const Adaptation mode : {Adaptation::Partial, Adaptation::Full})
    for (const double T : {6.0, 8.0}) {
      auto c = test::config(2048, 8, 4, mode, 1.0, 1);
      c.score_bound = T;
      c.family = InstanceFamily::Adversarial;
      const auto p = generate<float>(c);
      const double error = test::global_max_rel(make_algorithm("exact")->compute(p),
                                                make_algorithm("exact")->compute(to_float64(p)));
      const TargetOptions model = registration("exact").error_model(1e-3, shape_of(p), 4);
      INFO("T = " << T << " full " << (mode == Adaptation::Full) << ": " << error << " against " << model.expected_error);
      CHECK(error <= model.expected_error);
    }
  CHECK(registration("exact").error_model(1e-3, d8_shape(65536, 8.0), 4).reason.empty());
}

// The Chebyshev models pass the instance's s_beta on, with its margin, rounded
// up to a power of 2^(1/4), to the run only (not to the calibration's options);
// Taylor has no slope at the centre, and an unknown s_beta passes nothing.
TEST_CASE("the Chebyshev models pass the beta sensitivity to the run", "[auto][model]") {
  ProblemShape s = d8_shape(4096, 1.0);
  CHECK(registration("poly-cheb").error_model(1e-3, s, 4).instance_options.empty());  // unknown (-1)
  s.beta_sensitivity = 0.3;  // x 2 = 0.6 -> 2^(-1/2), the power of 2^(1/4) above (2^(-3/4) = 0.595)
  for (const char* name : {"poly-cheb", "poly-hybrid"}) {
    const TargetOptions t = registration(name).error_model(1e-3, s, 4);
    CHECK(t.options == "eps=0.001");
    REQUIRE(t.instance_options.rfind("beta_sensitivity=", 0) == 0);
    const auto run = make_algorithm(std::string(name) + ":" + t.options + "," + t.instance_options);
    const double w = run->options().real("beta_sensitivity");
    CHECK(w == Approx(std::sqrt(0.5)).epsilon(1e-15));
    CHECK(w >= detail::kBetaSensitivityMargin * s.beta_sensitivity);
    CHECK(run->options().real("score_rms") == 0);  // the slope at the centre
  }
  CHECK(registration("poly-taylor").error_model(1e-3, s, 4).instance_options.empty());
  s.beta_sensitivity = 0;
  CHECK(registration("poly-cheb").error_model(1e-3, s, 4).instance_options.empty());
}

// On an instance the plan estimates s_beta and the Chebyshev rows run with it
// (the calibrations without); Taylor's and exact's specs carry none.
TEST_CASE("auto's plan passes the instance's beta sensitivity to the Chebyshev rows", "[auto][model]") {
  const auto p = generate<float>(instance(2048, 1.0));
  const AutoPlan plan = plan_auto(p, uncalibrated(1e-3));
  CHECK(plan.beta_sensitivity == detail::first_order_beta_sensitivity(p));
  REQUIRE(plan.beta_sensitivity > 0);
  const std::string& spec = row_of(plan, "poly-cheb").spec;
  const std::size_t at = spec.find(",beta_sensitivity=");
  REQUIRE(at != std::string::npos);
  // Its text reads back as exactly the rounded value, kBetaSensitivityMargin s_beta up to a power of 2^(1/4).
  const std::string text = spec.substr(at + 18, spec.find(',', at + 1) - at - 18);
  const double w = detail::kBetaSensitivityMargin * plan.beta_sensitivity;
  CHECK(std::strtod(text.c_str(), nullptr) == std::exp2(std::ceil(4 * std::log2(w)) / 4));
  CHECK(row_of(plan, "poly-taylor").spec.find("beta_sensitivity") == std::string::npos);
  CHECK(row_of(plan, "exact").spec.find("beta_sensitivity") == std::string::npos);
}

// The estimate is made only once a Chebyshev row is costed: where exact wins
// by the polynomials' floors it would be wasted, and the rows not costed carry
// none (-1: not estimated).
TEST_CASE("auto's plan estimates the beta sensitivity only for a Chebyshev row it costs", "[auto][model]") {
  const auto p = generate<float>(instance(512, 8.0));
  const AutoPlan plan = plan_auto(p, uncalibrated(1e-3));
  REQUIRE(plan.chosen >= 0);
  CHECK(plan.rows[static_cast<std::size_t>(plan.chosen)].algorithm == "exact");
  REQUIRE(row_of(plan, "poly-cheb").at_least);
  CHECK(plan.beta_sensitivity == -1);
  CHECK(row_of(plan, "poly-cheb").spec.find("beta_sensitivity") == std::string::npos);
}

// The points where auto missed the target (docs/auto.md, "How much the
// temperature term costs"; interleaved-d4-zen4-975b619): poly-cheb's even
// degree met its certificate but not the gradients' target. With the
// instance's first-order s_beta (and the models' margin) the degree it picks
// meets the target; without it, it did not.
TEST_CASE("the beta sensitivity keeps poly-cheb's gradients within the target", "[auto][model]") {
  struct Point {
    InstanceFamily family;
    Adaptation mode;
    long long L;
    double T;
  };
  for (const Point& x : {Point{InstanceFamily::Gaussian, Adaptation::Partial, 2048, 0.25},
                         Point{InstanceFamily::Gaussian, Adaptation::Full, 2048, 1.0},
                         Point{InstanceFamily::Adversarial, Adaptation::Partial, 8192, 0.25}}) {
    auto c = test::config(x.L, 4, 4, x.mode, 1.0, 1);
    c.score_bound = x.T;
    c.family = x.family;
    const auto p = generate<float>(c);
    const auto truth = make_algorithm("exact")->compute(to_float64(p));
    const double s_beta = detail::first_order_beta_sensitivity(p);
    INFO(family_name(x.family) << " L = " << x.L << " T = " << x.T << " s_beta " << s_beta);
    const auto with = make_algorithm("poly-cheb:eps=1e-3,beta_sensitivity=" +
                                     std::to_string(detail::kBetaSensitivityMargin * s_beta))
                          ->compute(p);
    const auto without = make_algorithm("poly-cheb:eps=1e-3")->compute(p);
    CHECK(static_cast<int>(without.info.at("degree")) % 2 == 0);
    CHECK(test::global_max_rel(without, truth) > 1e-3);
    CHECK(test::global_max_rel(with, truth) <= 1e-3);
  }
}

// On a shape, poly-hybrid (its outliers need the data) is left out, and the
// polynomial is costed at the shape's Cauchy-Schwarz bound.
TEST_CASE("a plan on a shape leaves out what needs the data", "[auto]") {
  const AutoPlan plan = plan_auto(d8_shape(65536, 2.0), 4, uncalibrated(1e-3));
  CHECK(row_of(plan, "poly-hybrid").reason.find("depends on the data") != std::string::npos);
  CHECK(row_of(plan, "poly-cheb").reason.empty());
  CHECK(plan.chosen >= 0);
}

// One calibrated plan (about 2-3 s: the machine and four algorithms on d = 8):
// every candidate within reach is predicted with its calibration.
TEST_CASE("auto's default predictions are calibrated", "[auto][calibrated]") {
  const auto p = generate<float>(instance(4096, 2.0));
  AutoOptions o;
  const AutoPlan plan = plan_auto(p, o);
  for (const PlanRow& r : plan.rows) {
    INFO(r.algorithm << ": " << r.reason);
    if (r.reason.empty()) CHECK(r.calibrated);
  }
  const AutoPlan again = plan_auto(p, o);  // from the cache: milliseconds
  CHECK(again.seconds < plan.seconds);
  CHECK(again.chosen == plan.chosen);
}
