// Monomial feature maps: rank C(d + g, g), <phi(q), psi(k)> = P(T q.k), and no
// catastrophic cancellation even at the largest degree the certificate allows.
#include "lora/poly/exp_polynomial.hpp"
#include "lora/poly/monomial_features.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <vector>

#include <cmath>
#include <random>

using namespace lorafgc;
using namespace lorafgc::lora;

namespace {

// Rows of norm <= 1, as the algorithm feeds them (scaled before expanding).
Matrix<double> unit_ball_rows(int n, int d, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal;
  Matrix<double> Z(n, d);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) Z(i, j) = normal(rng);
    Z.row(i) *= (0.2 + 0.8 * (i % 5) / 4.0) / Z.row(i).norm();  // norms 0.2 .. 1
  }
  return Z;
}

// max over pairs of |<phi(q), psi(k)> - P(T q.k)| / e^{T q.k}.
double feature_error(const ExpPolynomial& p, int d, unsigned seed) {
  const MonomialFeatures features(d, p.degree);
  std::vector<double> wq, wk;
  features.weights(p.scaled, wq, wk);
  const Matrix<double> Zq = unit_ball_rows(20, d, seed), Zk = unit_ball_rows(20, d, seed + 1);
  // Include k = +-q so that s reaches +-T, where cancellation is worst.
  Matrix<double> Zk2(40, d);
  Zk2 << Zk, Zq;
  Zk2.bottomRows(10) *= -1;
  Matrix<double> U, W;
  features.evaluate<double>(Zq, wq, U);
  features.evaluate<double>(Zk2, wk, W);
  const Matrix<double> approx = U * W.transpose();
  double worst = 0;
  for (int i = 0; i < Zq.rows(); ++i)
    for (int j = 0; j < Zk2.rows(); ++j) {
      const long double s = static_cast<long double>(p.score_bound) * Zq.row(i).dot(Zk2.row(j));
      worst = std::max(worst, static_cast<double>(std::abs((approx(i, j) - p.evaluate(s)) / std::exp(s))));
    }
  return worst;
}

}  // namespace

TEST_CASE("rank is the binomial of d + g over g and overflow is an error", "[features]") {
  CHECK(monomial_rank(8, 5) == 1287);
  CHECK(monomial_rank(16, 4) == 4845);
  CHECK(monomial_rank(64, 2) == 2145);
  CHECK(MonomialFeatures(8, 5).rank() == 1287);
  CHECK(MonomialFeatures(3, 0).rank() == 1);
  CHECK(monomial_rank(64, 200) == -1);
  // Against Pascal's triangle (C(n, g) = C(n-1, g-1) + C(n-1, g), saturating past
  // 2^63 - 1), across the 64-bit products' overflow into 128-bit steps.
  constexpr int N = 140;
  std::vector<std::vector<unsigned __int128>> pascal(N + 1, std::vector<unsigned __int128>(N + 1, 0));
  const unsigned __int128 cap = static_cast<unsigned __int128>(std::numeric_limits<long long>::max()) + 1;
  for (int n = 0; n <= N; ++n) {
    pascal[n][0] = 1;
    for (int g = 1; g <= n; ++g) pascal[n][g] = std::min(cap, pascal[n - 1][g - 1] + pascal[n - 1][g]);
  }
  for (int d = 0; d <= 70; ++d)
    for (int g = 0; d + g <= N; ++g) {
      INFO("d = " << d << " g = " << g);
      const unsigned __int128 truth = pascal[d + g][g];
      CHECK(monomial_rank(d, g) == (truth >= cap ? -1 : static_cast<long long>(truth)));
    }
  CHECK_THROWS_WITH(MonomialFeatures(64, 200), Catch::Contains("degree") && Catch::Contains("overflows"));
}

// The inner product sums rank(k) products of size <= |ct_j|, so its rounding is
// <= gamma_{k+g+1}(u) sum_j |ct_j| in absolute terms, relative to e^s >= e^{-T}:
// the same bound the algorithm reports as eval_error. We assert it, and that it
// is below eps: evaluating through features loses nothing the certificate missed.
TEST_CASE("features reproduce P(T q.k) without catastrophic cancellation", "[features]") {
  struct Case {
    int d;
    double T, eps;
  };
  // T = 14 is near the largest T double certifies at eps = 1e-3 (u e^{2T} ~ 1.6e-4);
  // its degree is the largest the certificate hands the features.
  for (const Case c : {Case{3, 1.0, 1e-6}, Case{5, 4.0, 1e-6}, Case{2, 14.0, 1e-3}, Case{4, 8.0, 1e-4}})
    for (PolynomialKind kind : {PolynomialKind::Chebyshev, PolynomialKind::Taylor}) {
      const auto p = smallest_exp_polynomial(kind, c.eps, c.T);
      const double k = static_cast<double>(monomial_rank(c.d, p.degree));
      double coeff_sum = 0;
      for (double v : p.scaled) coeff_sum += std::abs(v);
      const double n = k + p.degree + 1, u = std::ldexp(1.0, -53);
      const double rounding = n * u / (1 - n * u) * coeff_sum * std::exp(c.T);
      const double err = feature_error(p, c.d, 11);
      INFO(to_string(kind) << " d=" << c.d << " T=" << c.T << " g=" << p.degree << " err=" << err
                           << " rounding bound=" << rounding);
      CHECK(err <= rounding);
      CHECK(err <= c.eps);
    }
}
