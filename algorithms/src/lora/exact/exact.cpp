// The driver of `exact`: thin factors per sequence, row blocks over OpenMP
// threads (per-thread sums, reduced once), then dB and dA assembled from the
// contracted products; and its cost model.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/system_info.hpp>

#include "lora/common/contracted_gradients.hpp"
#include "lora/exact/row_block.hpp"

#include <omp.h>

namespace lorafgc::lora {

ExactSchedule parse_exact_schedule(const std::string& text) {
  if (text == "panel") return ExactSchedule::Panel;
  if (text == "stream") return ExactSchedule::Stream;
  throw InvalidArgument("option 'schedule'", "expected 'panel' or 'stream', got '" + text + "'");
}

const char* to_string(ExactSchedule s) { return s == ExactSchedule::Panel ? "panel" : "stream"; }

namespace detail {

namespace {

template <class T>
RowBlockSums<T> run_row_blocks(const Problem<T>& p, Index b, const SequenceFactors<T>& f, const ExactConfig& c) {
  const Matrix<T>& X = p.X[b];
  const Index L = X.rows();
  const Index rows = exact_block_rows(c, L, sizeof(T));
  const Index blocks = (L + rows - 1) / rows;
  const T beta = static_cast<T>(p.beta);
  RowBlockSums<T> total(f.widths, L);
  const int threads = c.threads > 0 ? c.threads : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
  {
    RowBlockSums<T> sums(f.widths, L);
    PanelScratch<T> panel;
    StreamScratch<T> stream;
#pragma omp for schedule(dynamic, 1)
    for (Index blk = 0; blk < blocks; ++blk) {
      const RowBlock block{blk * rows, std::min(rows, L - blk * rows)};
      if (c.schedule == ExactSchedule::Panel)
        panel_rows(X, p.Y[b], f, beta, block, panel, sums);
      else
        stream_rows(X, p.Y[b], f, beta, block, static_cast<Index>(c.tile_cols), stream, sums);
    }
#pragma omp critical(lorafgc_exact_reduce)
    total.add(sums);
  }
  return total;
}

// dW_mu A_mu^T and B_mu^T dW_mu of one sequence from its row-block sums.
template <class T>
void contract(const Problem<T>& p, const Matrix<T>& X, const SequenceFactors<T>& f, const RowBlockSums<T>& s,
              ContractedGradients<T>& out) {
  const T beta = static_cast<T>(p.beta), inv_batch = T(1) / static_cast<T>(p.batch());
  const ThinWidths& w = f.widths;
  using CG = ContractedGradients<T>;
  const int q = index(Projection::Q), k = index(Projection::K), v = index(Projection::V);
  out.loss += s.loss;
  if (w.K_Aq) CG::add(out.right[q], beta * s.XT_dS_KAq, inv_batch);
  if (w.X_Bq) CG::add(out.left[q], beta * (s.dST_N_dST.leftCols(w.X_Bq).transpose() * f.K), inv_batch);
  if (w.Q_Ak) CG::add(out.right[k], beta * (X.transpose() * s.dST_N_dST.rightCols(w.Q_Ak)), inv_batch);
  if (w.X_Bk) CG::add(out.left[k], beta * s.BkT_XT_dST_Q, inv_batch);
  if (w.AvT) CG::add(out.right[v], X.transpose() * s.FT_R_AvT, inv_batch);
  if (w.X_Bv) CG::add(out.left[v], s.BvT_XT_FT_R, inv_batch);
}

}  // namespace

}  // namespace detail

long long exact_block_rows(const ExactConfig& c, long long length, int scalar_bytes) {
  long long rows = std::min(c.block_rows, std::max<long long>(length, 1));
  if (c.schedule == ExactSchedule::Panel)
    rows = std::min(rows, c.panel_bytes / (std::max<long long>(length, 1) * scalar_bytes));
  return std::max<long long>(1, rows);
}

double exact_product_width(const ProblemShape& s, ExactSchedule schedule) {
  double width = 3.0 * s.width;  // S = beta Q K^T, O = F V, R V^T
  if (schedule == ExactSchedule::Stream) width += s.width;  // S recomputed
  for (bool a : s.adapted)
    if (a) width += s.weights ? s.width : 2.0 * s.rank;
  return width;
}

double exact_flops(const ProblemShape& s, const ExactConfig& c) {
  ProblemShape w = s;
  w.weights = c.weights;
  return 2.0 * static_cast<double>(s.length) * s.length * exact_product_width(w, c.schedule) * s.batch;
}

double exact_workspace_bytes(const ProblemShape& s, int scalar_bytes, const ExactConfig& c) {
  ProblemShape w = s;
  w.weights = c.weights;
  const double rows = static_cast<double>(exact_block_rows(c, s.length, scalar_bytes));
  const double cols = c.schedule == ExactSchedule::Panel ? s.length : std::min<double>(c.tile_cols, s.length);
  const double threads = c.threads > 0 ? c.threads : omp_threads();
  // Per thread: two rows x cols blocks and the L-row sums; shared: Q, K, V and
  // the thin factors.
  const double thin = exact_product_width(w, ExactSchedule::Panel) - 3.0 * s.width;
  const double per_thread = 2.0 * rows * cols + thin * s.length;
  return scalar_bytes * (threads * per_thread + (4.0 * s.width + thin) * s.length);
}

template <class T>
Gradients<T> exact_gradients(const Problem<T>& p, const ExactConfig& c) {
  const auto W = detail::effective_weights(p);
  detail::ContractedGradients<T> sums;
  for (detail::Index b = 0; b < p.batch(); ++b) {
    const Matrix<T>& X = p.X[b];
    const auto f = detail::make_factors(p, X, W, c.weights);
    detail::contract(p, X, f, detail::run_row_blocks(p, b, f, c), sums);
  }
  Gradients<T> g = detail::assemble_gradients(p, sums, c.weights, true);
  g.info["block_rows"] = static_cast<double>(exact_block_rows(c, p.length(), sizeof(T)));
  return g;
}

template Gradients<float> exact_gradients(const Problem<float>&, const ExactConfig&);
template Gradients<double> exact_gradients(const Problem<double>&, const ExactConfig&);

}  // namespace lorafgc::lora
