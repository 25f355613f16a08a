#pragma once
// exact: the strong quadratic baseline. Row panels of b queries are processed
// whole (scores, softmax, output, dS), so nothing is recomputed and no L x L
// matrix exists; the L x L panels meet only products of width d (S, O, R V^T)
// or of width r (everything the adapter gradients need). OpenMP over panels,
// BLAS for each panel product.
#include <lorafgc/gradients.hpp>
#include <lorafgc/problem.hpp>

namespace lorafgc {

struct ExactPanelConfig {
  long long block_rows = 64;       // b: queries per panel
  long long panel_bytes = 16 << 20;  // b is lowered so one panel stays below this
  int threads = 0;                 // 0: OpenMP's default
  bool weights = false;            // also return the d x d weight gradients
};

template <class T>
Gradients<T> exact_panel_gradients(const Problem<T>& problem, const ExactPanelConfig& config);

// Width of the L x L products the panel algorithm performs (sum over products of
// the right-hand widths): 3d + 4r for partial, 3d + 6r for full.
double exact_panel_product_width(const ProblemShape& shape);
long long exact_panel_rows(const ExactPanelConfig& config, long long length, int scalar_bytes);

}  // namespace lorafgc
