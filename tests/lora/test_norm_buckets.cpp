// Norm buckets (lora/common/norm_buckets.hpp): every bound they give against
// the sorted norms, on norms with ties, zeros and a range far wider than the
// 8 octaves the buckets resolve, and without zeros (the buckets then span only
// the norms' range, the last one's lower edge exact).
#include "lora/common/norm_buckets.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>

using lorafgc::lora::detail::NormBuckets;
using Index = Eigen::Index;

namespace {

Eigen::VectorXd norms(Index n, double octaves, unsigned seed, bool zeros) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, octaves);
  Eigen::VectorXd x(n);
  for (Index i = 0; i < n; ++i) x[i] = zeros && i % 17 == 0 ? 0.0 : i % 13 == 0 ? 3.0 : std::exp2(u(rng) - 4);
  return x;
}

}  // namespace

TEST_CASE("norm buckets bound every order statistic and every threshold", "[auto][floor]") {
  for (bool zeros : {true, false})
    for (double octaves : {0.5, 4.0, 30.0})
      for (Index n : {Index{1}, Index{2}, Index{17}, Index{1000}}) {
        const Eigen::VectorXd x = norms(n, octaves, static_cast<unsigned>(n), zeros);
        const NormBuckets b(x);
        INFO("octaves " << octaves << " n " << n << " zeros " << zeros);
        std::vector<Index> order = b.order();
        std::sort(order.begin(), order.end());
        std::vector<Index> all(static_cast<std::size_t>(n));
        std::iota(all.begin(), all.end(), Index{0});
        CHECK(order == all);  // a permutation
        std::vector<double> sorted(x.data(), x.data() + n);
        std::sort(sorted.begin(), sorted.end(), std::greater<>());
        CHECK(b.max_norm() == sorted[0]);
        for (Index m = 0; m <= n; ++m) {
          const double truth = m < n ? sorted[static_cast<std::size_t>(m)] : 0.0;
          double rest = 0;  // the largest norm from position m of the order on
          for (Index k = m; k < n; ++k) rest = std::max(rest, x[b.order()[static_cast<std::size_t>(k)]]);
          CHECK(b.at_least_at(m) <= truth);
          CHECK(b.at_most_from(m) >= rest);
          if (truth > sorted[0] / 250) {  // within a bucket (relative width 2^-7) above the last (8 octaves down)
            CHECK(b.at_least_at(m) >= truth * (1 - 1.0 / 128));
            CHECK(b.at_most_from(m) <= rest * (1 + 1.0 / 128));
          }
        }
        for (double t : {0.0, sorted[0] / 3, sorted[0] / 1000, sorted[0], sorted[0] * 1.01, 3.0}) {
          const Index prefix = b.prefix_reaching(t);
          Index reaching = 0, close = 0;
          for (Index i = 0; i < n; ++i) {
            reaching += x[i] >= t;
            close += x[i] >= t * (1 - 1.0 / 128) || t <= sorted[0] / 250;
          }
          for (Index k = prefix; k < n; ++k) CHECK(x[b.order()[static_cast<std::size_t>(k)]] < t);
          CHECK(prefix >= reaching);
          if (t > 0) CHECK(prefix <= close);
        }
      }
  const NormBuckets empty{Eigen::VectorXd()};
  CHECK(empty.size() == 0);
  CHECK(empty.at_most_from(0) == 0);
  CHECK(empty.prefix_reaching(1) == 0);
  const NormBuckets zeros{Eigen::VectorXd::Zero(5)};
  CHECK(zeros.at_most_from(0) == 0);
  CHECK(zeros.prefix_reaching(1e-300) == 0);
}
