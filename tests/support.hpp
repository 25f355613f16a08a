#pragma once
// Helpers shared by the C++ tests of every workload.
#include <lorafgc/core/random.hpp>

namespace lorafgc::test {

// Seeded N(0, scale^2) entries, filled column by column.
inline Eigen::MatrixXd random_matrix(int rows, int cols, std::uint64_t seed, double scale = 1.0) {
  return gaussian_matrix(rows, cols, seed, scale);
}

}  // namespace lorafgc::test
