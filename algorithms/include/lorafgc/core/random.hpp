#pragma once
// Seeded random matrices, filled column by column from a fresh distribution, so
// that a generator state (or seed) and a shape always give the same matrix.
#include <lorafgc/core/eigen.hpp>

#include <cstdint>
#include <random>

namespace lorafgc {

// N(0, scale^2) entries, drawn from rng.
inline Eigen::MatrixXd gaussian_matrix(std::mt19937_64& rng, Eigen::Index rows, Eigen::Index cols,
                                       double scale = 1.0) {
  std::normal_distribution<double> normal(0.0, scale);
  Eigen::MatrixXd m(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j)
    for (Eigen::Index i = 0; i < rows; ++i) m(i, j) = normal(rng);
  return m;
}

inline Eigen::MatrixXd gaussian_matrix(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  return gaussian_matrix(rng, rows, cols, scale);
}

// Uniform entries in [-bound, bound).
inline Eigen::MatrixXd uniform_matrix(Eigen::Index rows, Eigen::Index cols, double bound, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(-bound, bound);
  Eigen::MatrixXd m(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j)
    for (Eigen::Index i = 0; i < rows; ++i) m(i, j) = uniform(rng);
  return m;
}

}  // namespace lorafgc
