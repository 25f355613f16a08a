#pragma once
// Helpers shared by the C++ tests of every workload.
#include <lorafgc/core/eigen.hpp>

#include <random>

namespace lorafgc::test {

// Seeded N(0, scale^2) entries, filled column by column.
inline Eigen::MatrixXd random_matrix(int rows, int cols, std::uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, scale);
  Eigen::MatrixXd m(rows, cols);
  for (int j = 0; j < cols; ++j)
    for (int i = 0; i < rows; ++i) m(i, j) = normal(rng);
  return m;
}

}  // namespace lorafgc::test
