#pragma once
// Helpers shared by the C++ tests.
#include <lorafgc/error_metrics.hpp>
#include <lorafgc/errors.hpp>
#include <lorafgc/exact_reference.hpp>
#include <lorafgc/generator.hpp>
#include <lorafgc/registry.hpp>

#include <Eigen/Core>

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

inline GeneratorConfig config(long long L, long long d, long long r, Adaptation mode, double gamma = 1.0,
                              std::uint64_t seed = 7) {
  GeneratorConfig c;
  c.length = L;
  c.width = d;
  c.rank = r;
  c.adaptation = mode;
  c.gamma = gamma;
  c.seed = seed;
  return c;
}

}  // namespace lorafgc::test
