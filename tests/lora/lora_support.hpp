#pragma once
// Helpers shared by the LoRA tests.
#include "support.hpp"

#include <lorafgc/core/errors.hpp>
#include <lorafgc/lora/error_metrics.hpp>
#include <lorafgc/lora/generator.hpp>
#include <lorafgc/lora/registry.hpp>

#include "lora/exact_reference/exact_reference.hpp"

#include <vector>

namespace lorafgc::test {

inline lora::GeneratorConfig config(long long L, long long d, long long r, lora::Adaptation mode, double gamma = 1.0,
                              std::uint64_t seed = 7) {
  lora::GeneratorConfig c;
  c.length = L;
  c.width = d;
  c.rank = r;
  c.adaptation = mode;
  c.gamma = gamma;
  c.seed = seed;
  return c;
}

// auto's target: max |G~ - G| over all returned adapter gradients, over
// max |G| over them (compare_gradients' max_rel is per matrix).
template <class T, class U>
double global_max_rel(const lora::Gradients<T>& approx, const lora::Gradients<U>& truth) {
  double scale = 0;
  for (const auto& a : truth.adapter)
    if (a) scale = std::max({scale, static_cast<double>(a->dB.cwiseAbs().maxCoeff()),
                             static_cast<double>(a->dA.cwiseAbs().maxCoeff())});
  return lora::compare_gradients(approx, truth).max_abs / scale;
}

// Moves `rows` of every sequence `factor` times the longest row's length along
// the second coordinate: a few rows far along one direction, which pull the
// bounding box's midpoint (and so the keys' centre) out towards them.
template <class T>
void push_rows_far(lora::Problem<T>& p, const std::vector<Eigen::Index>& rows, double factor) {
  for (auto& X : p.X) {
    const T shift = static_cast<T>(factor) * X.rowwise().norm().maxCoeff();
    for (Eigen::Index i : rows) X(i, 1) += shift;
  }
}

}  // namespace lorafgc::test
