// first_order_beta_sensitivity (lora/auto_select/beta_sensitivity.hpp): the
// first-order expansion around uniform attention against the exact s_beta, a
// forward difference of exact float64 gradients in beta. The expansion's
// relative error is O(T), with a constant that differs by family: on these
// instances at T = 1e-4 it is below 1e-4 on Gaussian and llm but 11% on
// adversarial (full, batch 2), at T = 1e-5 1%; so T = 1e-5 and 2%, while a
// wrong or missing term (each is O(1) of the total on some family) fails it.
// The difference's own error: h = 1e-6 relative truncation, rounding
// 1e-16 / (h s_beta) = 1e-7 at s_beta = 1e-3.
#include "lora_support.hpp"

#include "lora/auto_select/beta_sensitivity.hpp"

#include <lorafgc/lora/problem.hpp>

#include <catch2/catch.hpp>

using namespace lorafgc;
using namespace lorafgc::lora;

TEMPLATE_TEST_CASE("the first-order beta sensitivity is the exact one as T -> 0", "[auto][beta]", float, double) {
  for (InstanceFamily family : {InstanceFamily::Gaussian, InstanceFamily::Llm, InstanceFamily::Adversarial})
    for (Adaptation mode : {Adaptation::Partial, Adaptation::Full}) {
      auto c = test::config(300, 5, 2, mode, 1.0, 3);
      c.batch = 2;
      c.score_bound = 1e-5;
      c.family = family;
      const Problem<TestType> p = generate<TestType>(c);
      Problem<double> q = to_float64(p);
      const auto exact = make_algorithm("exact");
      const Gradients<double> at = exact->compute(q);
      constexpr double h = 1e-6;
      q.beta *= 1 + h;
      const double s_beta = test::global_max_rel(exact->compute(q), at) / h;
      INFO(family_name(family) << (mode == Adaptation::Full ? " full" : " partial") << ": exact " << s_beta);
      CHECK(detail::first_order_beta_sensitivity(p) == Approx(s_beta).epsilon(0.02));
    }
}

// What the estimate is for: the keys' common component of llm activations
// carries no signal, so their query and key gradients are a few thousandths of
// the value gradient and an even degree's slope does not matter; on Gaussian
// instances it does (docs/auto.md: exact s_beta 1e-4 - 7e-3 against 0.9-2).
TEST_CASE("the beta sensitivity separates llm from Gaussian activations", "[auto][beta]") {
  for (double T : {0.25, 1.0, 4.0}) {
    auto c = test::config(2048, 4, 4, Adaptation::Partial, 1.0, 1);
    c.score_bound = T;
    c.family = InstanceFamily::Llm;
    const double llm = detail::first_order_beta_sensitivity(generate<float>(c));
    c.family = InstanceFamily::Gaussian;
    const double gaussian = detail::first_order_beta_sensitivity(generate<float>(c));
    INFO("T = " << T << ": llm " << llm << ", gaussian " << gaussian);
    CHECK(llm < 0.02);
    CHECK(gaussian > 0.3);
  }
}
