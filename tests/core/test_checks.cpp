// The shared argument checks (core/checks.hpp): require_finite refuses a NaN or
// an infinity wherever it sits (every position of an odd-sized matrix, so the
// vectorised sum's remainder lanes too) and accepts every finite extreme.
#include <lorafgc/core/checks.hpp>

#include <catch2/catch.hpp>

#include <limits>

TEMPLATE_TEST_CASE("require_finite finds every non-finite entry and passes every finite one", "[checks]", float,
                   double) {
  using limits = std::numeric_limits<TestType>;
  Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic> m(37, 5);
  for (Eigen::Index i = 0; i < m.size(); ++i)
    m(i) = i % 3 == 0 ? limits::max() : i % 3 == 1 ? -limits::denorm_min() : TestType(-0.0);
  CHECK_NOTHROW(lorafgc::require_finite("m", m));
  CHECK_NOTHROW(lorafgc::require_finite("empty", Eigen::Matrix<TestType, Eigen::Dynamic, 1>()));
  for (TestType bad : {limits::quiet_NaN(), limits::infinity(), -limits::infinity()})
    for (Eigen::Index i = 0; i < m.size(); ++i) {
      auto copy = m;
      copy(i) = bad;
      CHECK_THROWS_WITH(lorafgc::require_finite("m", copy), Catch::Contains("m") && Catch::Contains("NaN or infinite"));
      if (i % 37 == 0 || i % 37 == 36)  // a block without that row
        CHECK_NOTHROW(lorafgc::require_finite("block", copy.middleRows(1, 35)));
      else
        CHECK_THROWS_WITH(lorafgc::require_finite("block", copy.middleRows(1, 35)), Catch::Contains("block"));
    }
}
