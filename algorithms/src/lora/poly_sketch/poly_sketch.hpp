#pragma once
// poly-sketch: the polynomial method's certified polynomial (degree from eps on
// the certified range, as poly-cheb) with each degree's monomial features
// replaced by a Gaussian product sketch of width m (sketch_features.hpp),
// through the same chained backward pass. info: degree, rank (1 + g m), T,
// T_used, poly_error (of P against exp), flops, workspace_bytes, seed. No
// error_bound: the sketch's error is an estimate's.
#include <lorafgc/lora/attention.hpp>
#include <lorafgc/lora/cost_model.hpp>
#include <lorafgc/lora/gradients.hpp>
#include <lorafgc/lora/problem.hpp>

#include "lora/poly/poly.hpp"

#include <cstdint>

namespace lorafgc::lora {

struct PolySketchConfig {
  PolyConfig poly;           // eps, degree, centre, range_rows, block, threads, weights (kind: Chebyshev)
  long long sketch = 64;     // m, the width per degree
  std::uint64_t seed = 1;
};

// rank 1 + g m; NaN counts when the degree needs the unknown score bound.
Cost poly_sketch_cost(const ProblemShape& shape, int scalar_bytes, const PolySketchConfig& config);
double poly_sketch_workspace_bytes(const ProblemShape& shape, int scalar_bytes, const PolySketchConfig& config);

template <class T>
Gradients<T> poly_sketch_gradients(const Problem<T>& problem, const PolySketchConfig& config);

// Attention on Q, K, V (lorafgc/lora/attention.hpp; validated by the caller)
// through the chained low-rank attention (lora/poly/chained_attention.hpp);
// info: the rank, seed and range (no certificate, no bound).
template <class T>
void poly_sketch_attention(const AttentionShape& shape, const AttentionForwardIO<T>& io, const PolySketchConfig& config);
template <class T>
void poly_sketch_attention(const AttentionShape& shape, const AttentionBackwardIO<T>& io, const PolySketchConfig& config);

}  // namespace lorafgc::lora
