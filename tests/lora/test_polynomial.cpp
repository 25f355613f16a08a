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

// The temperature term: at the centre, r'(0) of r(s) = P(s) e^-s - 1 (against
// a central difference in long double, truncation d^2 / 6 times the third
// derivative, about 1e-10 relative); over a narrow Gaussian it tends to r'(0)
// (the regression's excess is sigma^2 / 2 times the third derivative over the
// first, about (g + 1)^2 / 5000 at sigma = T / 50).
TEST_CASE("the temperature slope is the relative error's slope at the centre", "[polynomial]") {
  for (double T : {0.25, 1.0, 3.0})
    for (int g : {2, 3, 4, 6}) {
      const ExpPolynomial p = exp_polynomial(PolynomialKind::Chebyshev, g, T);
      const auto r = [&](long double s) { return p.evaluate(s) * std::exp(-s) - 1; };
      const long double h = 1e-5L * T;
      const double central = static_cast<double>((r(h) - r(-h)) / (2 * h));
      INFO("T = " << T << " g = " << g << ": central difference " << central);
      // The difference's long-double rounding, 1e-19 / h, is 1e-13 here: within a
      // margin far below any slope that matters (a thousandth of the certificate).
      const double margin = 1e-3 * p.certified_error / T;
      CHECK(temperature_slope(p, 0) == Approx(central).epsilon(1e-6).margin(margin));
      CHECK(temperature_slope(p, T / 50) == Approx(central).epsilon(2e-2).margin(margin));
    }
}

// With a beta sensitivity w, an even Chebyshev degree must certify eps over
// gradient_error_factor = max(1, |slope| w / certified error); odd degrees and
// Taylor are unchanged. The degree is the smallest that meets that: the plain
// one or the next.
TEST_CASE("a beta sensitivity holds even Chebyshev degrees to their slope", "[polynomial]") {
  const ExpPolynomial even = exp_polynomial(PolynomialKind::Chebyshev, 4, 0.5);
  CHECK(gradient_error_factor(even, 1.0, 0) == Approx(std::abs(temperature_slope(even, 0)) / even.certified_error));
  CHECK(gradient_error_factor(even, 1e-6, 0) == 1.0);
  CHECK(gradient_error_factor(exp_polynomial(PolynomialKind::Chebyshev, 5, 0.5), 1.0, 0) == 1.0);
  CHECK(gradient_error_factor(exp_polynomial(PolynomialKind::Taylor, 4, 0.5), 1.0, 0) == 1.0);
  for (double T : {0.1, 0.25, 1.0, 2.0, 4.0})
    for (double eps : {1e-2, 1e-3, 1e-6})
      for (double w : {1e-3, 0.5, 2.0})
        for (double rms : {0.0, T / 4}) {
          const auto plain = smallest_exp_polynomial(PolynomialKind::Chebyshev, eps, T);
          const auto p = smallest_exp_polynomial(PolynomialKind::Chebyshev, eps, T, w, rms);
          const auto meets = [&](const ExpPolynomial& q) {
            return q.certified_error * gradient_error_factor(q, w, rms) <= eps;
          };
          INFO("T=" << T << " eps=" << eps << " w=" << w << " rms=" << rms << ": plain g=" << plain.degree
                    << ", g=" << p.degree);
          CHECK(meets(p));
          if (p.degree > 0) CHECK(!meets(exp_polynomial(PolynomialKind::Chebyshev, p.degree - 1, T)));
          CHECK((p.degree == plain.degree || (p.degree == plain.degree + 1 && plain.degree % 2 == 0)));
          CHECK(smallest_exp_polynomial(PolynomialKind::Taylor, eps, T, w, rms).degree ==
                smallest_exp_polynomial(PolynomialKind::Taylor, eps, T).degree);
        }
  for (double bad : {-1.0, std::nan(""), HUGE_VAL}) {
    CHECK_THROWS_WITH(smallest_exp_polynomial(PolynomialKind::Chebyshev, 1e-3, 1.0, bad),
                      Catch::Contains("beta_sensitivity"));
    CHECK_THROWS_WITH(certified_exp_polynomial(PolynomialKind::Chebyshev, 1e-3, -1, 1.0, 1.0, bad),
                      Catch::Contains("score_rms"));
  }
}
