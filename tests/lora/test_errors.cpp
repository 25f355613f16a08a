// Bad input is refused with InvalidArgument naming the argument; a result that
// overflows is refused with NumericalError, never passed on as NaN/Inf.
#include "lora_support.hpp"

#include <catch2/catch.hpp>

#include <limits>

using namespace lorafgc;
using namespace lorafgc::lora;

namespace {

Problem<double> valid() { return generate<double>(test::config(10, 4, 2, Adaptation::Full)); }

void require_rejected(const Problem<double>& p, const std::string& argument) {
  for (const auto& info : registered_algorithms()) {
    INFO(info.name << " should reject, naming " << argument);
    try {
      make_algorithm(info.name)->compute(p);
      FAIL("accepted");
    } catch (const InvalidArgument& e) {
      CHECK(e.argument() == argument);
    }
  }
}

}  // namespace

TEST_CASE("malformed problems are rejected naming the argument", "[errors]") {
  auto p = valid();
  p.X[0].resize(0, 4);
  p.Y[0].resize(0, 4);
  require_rejected(p, "X");  // L = 0

  p = valid();
  p.X.clear();
  p.Y.clear();
  require_rejected(p, "X");  // empty batch

  p = valid();
  p.Y[0] = Matrix<double>::Zero(10, 5);
  require_rejected(p, "Y");

  p = valid();
  p.W[index(Projection::K)] = Matrix<double>::Zero(4, 3);
  require_rejected(p, "Wk");

  p = valid();
  p.adapter[index(Projection::Q)]->B.resize(4, 0);
  p.adapter[index(Projection::Q)]->A.resize(0, 4);
  require_rejected(p, "adapters['q']");  // r = 0

  p = valid();
  p.adapter[index(Projection::V)]->B = Matrix<double>::Zero(4, 3);
  p.adapter[index(Projection::V)]->A = Matrix<double>::Zero(3, 4);
  require_rejected(p, "adapters['v']");  // rank differs from q's

  p = valid();
  p.adapter[index(Projection::K)]->A = Matrix<double>::Zero(2, 5);
  require_rejected(p, "adapters['k'].A");

  p = valid();
  p.X[0](3, 1) = std::numeric_limits<double>::quiet_NaN();
  require_rejected(p, "X");

  p = valid();
  p.adapter[index(Projection::V)]->B(0, 0) = std::numeric_limits<double>::infinity();
  require_rejected(p, "adapters['v'].B");

  p = valid();
  for (auto& a : p.adapter) a.reset();
  require_rejected(p, "adapters");
}

TEST_CASE("generator parameters are validated", "[errors]") {
  auto c = test::config(10, 4, 2, Adaptation::Partial);
  c.rank = 0;
  CHECK_THROWS_AS(generate<double>(c), InvalidArgument);
  c = test::config(0, 4, 2, Adaptation::Partial);
  CHECK_THROWS_WITH(generate<double>(c), Catch::Contains("L"));
  c = test::config(10, 4, 2, Adaptation::Partial, -1.0);
  CHECK_THROWS_WITH(generate<double>(c), Catch::Contains("gamma"));
  CHECK_THROWS_WITH(parse_adaptation("sideways"), Catch::Contains("mode"));
}

TEST_CASE("a result that overflows float is an error and not Inf", "[errors]") {
  auto p = generate<float>(test::config(16, 4, 2, Adaptation::Partial));
  p.Y[0].setConstant(3e19f);  // R^2 overflows float
  for (const auto& info : registered_algorithms())
    CHECK_THROWS_AS(make_algorithm(info.name)->compute(p), NumericalError);
}
