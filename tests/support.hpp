#pragma once
// Helpers shared by the C++ tests.
#include <lorafgc/error_metrics.hpp>
#include <lorafgc/errors.hpp>
#include <lorafgc/exact_reference.hpp>
#include <lorafgc/generator.hpp>
#include <lorafgc/registry.hpp>

namespace lorafgc::test {

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

template <class T>
Problem<double> to_double(const Problem<T>& p) {
  Problem<double> q;
  for (const auto& x : p.X) q.X.push_back(x.template cast<double>());
  for (const auto& y : p.Y) q.Y.push_back(y.template cast<double>());
  for (Projection k : kProjections) {
    q.W[index(k)] = p.W[index(k)].template cast<double>();
    if (p.adapter[index(k)])
      q.adapter[index(k)] = LoraAdapter<double>{p.adapter[index(k)]->B.template cast<double>(),
                                                p.adapter[index(k)]->A.template cast<double>()};
  }
  q.alpha = p.alpha;
  q.beta = p.beta;
  return q;
}

}  // namespace lorafgc::test
