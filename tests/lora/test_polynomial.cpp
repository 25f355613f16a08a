// Polynomial approximations of exp on [-T, T]: certificates hold on a dense grid
// (a grid 25x finer than, and offset from, the one the certificate uses), the
// degree is the smallest that certifies eps, and Chebyshev never needs more
// degree than Taylor.
#include <lorafgc/core/errors.hpp>
#include "lora/poly/exp_polynomial.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace lorafgc;
using namespace lorafgc::lora;

TEST_CASE("certified relative error holds on a dense grid", "[polynomial]") {
  for (PolynomialKind kind : {PolynomialKind::Taylor, PolynomialKind::Chebyshev})
    for (double T : {0.1, 0.5, 1.0, 2.0, 4.0, 8.0})
      for (int g : {1, 3, 5, 8, 12, 20}) {
        const ExpPolynomial p = exp_polynomial(kind, g, T);
        INFO(to_string(kind) << " T=" << T << " g=" << g << " certified=" << p.certified_error);
        CHECK(grid_relative_error(p, 200001) <= p.certified_error);
      }
}

TEST_CASE("the chosen degree is the smallest that certifies eps and Chebyshev needs no more than Taylor", "[polynomial]") {
  for (double T : {0.25, 1.0, 2.0, 4.0, 8.0})
    for (double eps : {1e-2, 1e-3, 1e-6, 1e-9}) {
      if (std::ldexp(1.0, -53) * std::exp(2 * T) > eps) continue;  // cancellation limit, tested below
      const auto c = smallest_exp_polynomial(PolynomialKind::Chebyshev, eps, T);
      const auto t = smallest_exp_polynomial(PolynomialKind::Taylor, eps, T);
      INFO("T=" << T << " eps=" << eps << " cheb g=" << c.degree << " taylor g=" << t.degree);
      CHECK(c.certified_error <= eps);
      CHECK(t.certified_error <= eps);
      if (c.degree > 0) CHECK(exp_polynomial(PolynomialKind::Chebyshev, c.degree - 1, T).certified_error > eps);
      if (t.degree > 0) CHECK(exp_polynomial(PolynomialKind::Taylor, t.degree - 1, T).certified_error > eps);
      CHECK(c.degree <= t.degree);
    }
}

// The degrees quoted in shared/design/lora-gradients.md.
TEST_CASE("degrees match the design note's examples", "[polynomial]") {
  CHECK(smallest_exp_polynomial(PolynomialKind::Chebyshev, 1e-3, 1.0).degree == 5);
  CHECK(smallest_exp_polynomial(PolynomialKind::Taylor, 1e-3, 1.0).degree == 6);
  CHECK(smallest_exp_polynomial(PolynomialKind::Chebyshev, 1e-3, 4.0).degree == 11);
  CHECK(smallest_exp_polynomial(PolynomialKind::Taylor, 1e-3, 4.0).degree == 17);
}

TEST_CASE("an eps below the monomial form's cancellation limit is refused naming eps", "[polynomial]") {
  // u e^{2T} = 1.1e-16 e^{32} ~ 9e-3 > 1e-3: no degree can certify it in double.
  CHECK_THROWS_WITH(smallest_exp_polynomial(PolynomialKind::Chebyshev, 1e-3, 16.0), Catch::Contains("eps"));
  CHECK_THROWS_AS(smallest_exp_polynomial(PolynomialKind::Taylor, 0.0, 1.0), InvalidArgument);
  CHECK_THROWS_AS(exp_polynomial(PolynomialKind::Taylor, -1, 1.0), InvalidArgument);
  CHECK_THROWS_AS(parse_polynomial_kind("legendre"), InvalidArgument);
}
