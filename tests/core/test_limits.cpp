// The limit table and the memory budget every entry point checks against.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/limits.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <thread>

using namespace lorafgc;

TEST_CASE("the limit table covers every quantity in order, with sane bounds", "[limits]") {
  const auto& table = limit_table();
  for (std::size_t i = 0; i < table.size(); ++i) {
    INFO(table[i].what);
    CHECK(static_cast<std::size_t>(table[i].quantity) == i);
    CHECK(table[i].min <= table[i].max);
    CHECK(table[i].min >= 0);
  }
  CHECK(limit(Quantity::length).max == (1LL << 31) - 1);  // BLAS's 32-bit int
  CHECK(limit(Quantity::threads).max <= 64);
  CHECK(limit(Quantity::threads).max >= std::min(64u, std::thread::hardware_concurrency()));
}

TEST_CASE("a count outside its limit is refused naming the argument and the range", "[limits]") {
  CHECK_NOTHROW(require_count("L", 1, Quantity::length));
  try {
    require_count("L", 1LL << 40, Quantity::length);
    FAIL("accepted");
  } catch (const InvalidArgument& e) {
    CHECK(e.argument() == "L");
    CHECK(std::string(e.what()).find("2147483647") != std::string::npos);
  }
  CHECK_THROWS_WITH(require_count("relu_units", 2, Quantity::units), Catch::Contains("relu_units"));
  CHECK_THROWS_WITH(require_count("threads", -1, Quantity::threads), Catch::Contains("threads"));
}

TEST_CASE("requests over the memory budget are refused before allocating", "[limits]") {
  const double budget = memory_budget_bytes();
  CHECK(budget > 0);
  CHECK_NOTHROW(require_memory("L", budget / 2, "half the budget"));
  CHECK_THROWS_WITH(require_memory("L", 2 * budget, "twice the budget"),
                    Catch::Contains("L") && Catch::Contains("twice the budget"));
  CHECK_THROWS_AS(require_memory("L", std::nan(""), "an unknown size"), InvalidArgument);  // NaN is not "fits"
  CHECK(bytes_text(1536.0 * 1024 * 1024) == "1.5 GiB");
  CHECK(number_text(1e300) == "1e+300");
}
