#pragma once
// Helpers shared by the C++ tests of every workload.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/random.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace lorafgc::test {

// Seeded N(0, scale^2) entries, filled column by column.
inline Eigen::MatrixXd random_matrix(int rows, int cols, std::uint64_t seed, double scale = 1.0) {
  return gaussian_matrix(rows, cols, seed, scale);
}

// f() throws InvalidArgument naming `argument`.
template <class F>
void require_invalid_argument(const std::string& argument, F&& f) {
  INFO("should be refused, naming " << argument);
  try {
    f();
    FAIL("accepted");
  } catch (const InvalidArgument& e) {
    CHECK(e.argument() == argument);
  }
}

}  // namespace lorafgc::test
