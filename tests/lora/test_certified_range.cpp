// The certified score range (lora/common/certified_range.hpp): every shifted
// score the features represent lies in [-1, 1] after scaling by T_used,
// checked exactly (long double, all L^2 pairs) on small instances, including
// tile-free edge cases (L = 1), negative beta, scores up to 1e4 and keys with a
// large common component.
#include "lora_support.hpp"

#include "lora/common/certified_range.hpp"
#include "lora/common/thin_factors.hpp"

#include <lorafgc/lora/score_range.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdlib>
#include <limits>

using namespace lorafgc;
using namespace lorafgc::lora;

namespace {

// max over all pairs of |Q^_i . K^_j|, in long double from the features as the
// polynomial's run forms them (make_factors, then scaled).
template <class T>
long double max_scaled_score(const Problem<T>& p, const detail::CertifiedRange& range) {
  long double worst = 0;
  for (std::size_t b = 0; b < p.X.size(); ++b) {
    const auto f = detail::make_factors(p, p.X[b], detail::effective_weights(p), false);
    const Matrix<T> Qh = detail::scaled_queries(f.Q, range), Kh = detail::scaled_keys(f.K, range, b);
    for (Eigen::Index i = 0; i < Qh.rows(); ++i)
      for (Eigen::Index j = 0; j < Kh.rows(); ++j) {
        long double s = 0;
        for (Eigen::Index a = 0; a < Qh.cols(); ++a)
          s += static_cast<long double>(Qh(i, a)) * static_cast<long double>(Kh(j, a));
        worst = std::max(worst, std::fabs(s));
      }
  }
  return worst;
}

template <class T>
void check_coverage(const Problem<T>& p, const ScoreRangeOptions& options) {
  const auto range = detail::certified_range(p.X, p.effective_weight(Projection::Q), p.effective_weight(Projection::K),
                                             p.beta, options);
  INFO("T_cs " << range.T_cauchy_schwarz << " T_centred " << range.T_centred << " T_used " << range.T_used);
  CHECK(max_scaled_score(p, range) <= 1.0L);
  CHECK(range.T_used <= range.T_centred * (1 + 1e-5) + 1e-300);
  if (!options.centre) CHECK(range.T_centred == range.T_cauchy_schwarz);
}

}  // namespace

TEMPLATE_TEST_CASE("every shifted score lies inside the certified interval", "[range]", float, double) {
  int cases = 0;
  for (long long L : {1LL, 2LL, 7LL, 65LL, 130LL})
    for (long long d : {1LL, 3LL, 8LL})
      for (double T : {0.5, 3.0, 1e4})
        for (std::uint64_t seed : {1u, 2u}) {
          auto c = test::config(L, d, 2, seed == 1 ? Adaptation::Partial : Adaptation::Full, 1.0, seed);
          c.score_bound = T;
          c.batch = seed;  // batch 1 and 2
          c.beta = seed == 1 ? 1.0 : -0.7;
          Problem<TestType> p = generate<TestType>(c);
          if (L > 2 && seed == 2) add_common_key_component(p, 3.0);
          for (bool centre : {false, true})
            for (Eigen::Index m : {0, 1, 4, 64}) {
              check_coverage(p, {centre, m});
              ++cases;
            }
        }
  CHECK(cases == 5 * 3 * 3 * 2 * 8);
}

// The search takes rows in the order of their norm buckets (norm_buckets.hpp),
// not sorted: the rows a round scores against are a prefix of that order, and
// the rows it leaves out are bounded by bucket edges. Seed 3 puts a third of
// the rows 2^-12 below the rest, past the 8 octaves the buckets resolve.
TEMPLATE_TEST_CASE("the certificate holds where the search scans unsorted rows", "[range]", float, double) {
  for (long long d : {4LL, 8LL})
    for (std::uint64_t seed : {1u, 2u, 3u}) {
      auto c = test::config(4096, d, 2, Adaptation::Partial, 1.0, seed);
      c.score_bound = 2.0;
      Problem<TestType> p = generate<TestType>(c);
      if (seed == 2) add_common_key_component(p, 3.0);
      if (seed == 3)
        for (Eigen::Index i = 0; i < p.X[0].rows(); i += 3) p.X[0].row(i) *= TestType(1.0 / 4096);
      check_coverage(p, {true, 64});
    }
}

// Keys far along a shared direction (||b|| = 1000 max ||g_j||): the certificate
// allows for rounding in T_centred's terms, so it holds only for the very keys
// the range certified. Another product order for X W_k moves them by up to
// gamma_d |X||W_k| (in float here 2 ulps of 1000, 7e-5 of the centred norms);
// range_rows = L makes T_used the largest score itself, with no slack above it.
TEMPLATE_TEST_CASE("the certificate holds for the run's keys under a large common component", "[range]", float,
                   double) {
  for (std::uint64_t seed : {1u, 2u, 3u, 4u}) {
    auto c = test::config(400, 8, 2, Adaptation::Partial, 1.0, seed);
    c.score_bound = 3.0;
    Problem<TestType> p = generate<TestType>(c);
    add_common_key_component(p, 1000.0);
    for (Eigen::Index m : {0, 64, 400}) check_coverage(p, {true, m});
  }
}

// Without centring and extreme rows the range is Cauchy-Schwarz's, as the
// problem computes it (to the rounding allowance the range adds).
TEST_CASE("the plain range is the Cauchy-Schwarz bound", "[range]") {
  Problem<double> p = generate<double>(test::config(300, 6, 2, Adaptation::Partial, 1.0, 3));
  const auto range = certified_score_range(p, {false, 0});
  CHECK(range.T_cauchy_schwarz == Approx(p.score_bound()).epsilon(1e-13));
  CHECK(range.T_used == Approx(p.score_bound()).epsilon(1e-13));
  CHECK(range.T_used >= range.T_cauchy_schwarz);
}

// auto's plan takes the shape's score bound from the rows it forms for the
// range (cauchy_schwarz_bound): the same as the problem's, over the whole batch
// (the largest query and key norms from different sequences), with either
// centring (the key norms are taken before it) and a negative beta. Both form
// the same products in T; their row norms may accumulate in different
// precisions, d u each, so 4 d u covers the product of two.
TEMPLATE_TEST_CASE("the bound from the shared rows is the problem's Cauchy-Schwarz bound", "[range]", float, double) {
  lora::GeneratorConfig c = test::config(200, 5, 2, Adaptation::Full, 1.0, 11);
  c.batch = 3;
  c.beta = -0.7;
  Problem<TestType> p = generate<TestType>(c);
  p.X[1] *= TestType(1.5);  // this sequence holds the largest norms
  add_common_key_component(p, 2.0);
  const double tolerance = 4 * 5 * std::numeric_limits<TestType>::epsilon();
  for (bool centre : {false, true}) {
    const double bound = detail::cauchy_schwarz_bound(detail::sequence_rows(p.X, p.effective_weight(Projection::Q),
                                                                            p.effective_weight(Projection::K), centre),
                                                      p.beta);
    CHECK(bound == Approx(p.score_bound()).epsilon(tolerance));
  }
}

// Centring removes a common key component; the extreme rows tighten the rest.
// (The targets on large instances are measured by benchmarks/lora/bench_score_range.)
TEST_CASE("centring removes a common key component", "[range]") {
  Problem<double> p = generate<double>(test::config(2000, 8, 4, Adaptation::Partial, 1.0, 5));
  const Matrix<double> Wk = p.effective_weight(Projection::K), before = p.X[0] * Wk;
  add_common_key_component(p, 3.0);
  const Matrix<double> shift = p.X[0] * Wk - before;
  CHECK((shift.rowwise() - shift.row(0)).cwiseAbs().maxCoeff() <= 1e-12);
  CHECK(shift.row(0).norm() == Approx(3 * before.rowwise().norm().maxCoeff()).epsilon(1e-10));
  const auto plain = certified_score_range(p, {false, 0});
  const auto centred = certified_score_range(p, {true, 0});
  const auto adaptive = certified_score_range(p, {true, 64});
  // Keys b + g_j, ||b|| = 3 max||g_j||: max||K_j|| >= 2 max||g_j|| (the largest
  // g_j may point against b) while max||K_j - c|| <= 2 max||g_j||, and
  // typically about max||g_j||.
  CHECK(centred.T_centred <= 0.5 * plain.T_cauchy_schwarz);
  CHECK(adaptive.T_used <= centred.T_used);
}

// max_abs_product's blocked path (four rows of A per 64- or 32-row block of B,
// then single rows, then B's tail rows), against the stored product; the last
// shape is above the two-thread threshold. Entries lie in [-1, 1], so each
// score, in any summation order, is within gamma_d * d ~ d^2 u of the exact one:
// the two maxima differ by at most 2 d^2 u = d^2 eps (1% slack for gamma_d).
TEMPLATE_TEST_CASE("max_abs_product equals max |A B^T| at every row and block remainder", "[range]", float, double) {
  using M = lorafgc::Matrix<TestType>;
  for (auto [m, n, d] : {std::array<Eigen::Index, 3>{1, 1, 1}, {3, 63, 5}, {7, 200, 3}, {9, 129, 17}, {37, 1000, 64}}) {
    std::srand(static_cast<unsigned>(m * 1000 + n));
    const M A = M::Random(m, d), B = M::Random(n, d);
    const double want = static_cast<double>((A * B.transpose()).cwiseAbs().maxCoeff());
    const double got = lorafgc::lora::detail::max_abs_product<TestType>(A, B);
    CHECK(std::abs(got - want) <= 1.01 * static_cast<double>(d * d) * std::numeric_limits<TestType>::epsilon());
  }
}
