// The driver of `exact`: thin factors per sequence, row blocks over OpenMP
// threads (per-thread sums, reduced once), then dB and dA assembled from the
// contracted products; and its cost model.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/core/system_info.hpp>

#include "lora/common/contracted_gradients.hpp"
#include "lora/common/shard_collectives.hpp"
#include "lora/exact/row_block.hpp"

#include <omp.h>

#include <optional>
#include <stdexcept>

namespace lorafgc::lora {

ExactSchedule parse_exact_schedule(const std::string& text) {
  if (text == "auto") return ExactSchedule::Auto;
  if (text == "panel") return ExactSchedule::Panel;
  if (text == "stream") return ExactSchedule::Stream;
  if (text == "fused") return ExactSchedule::Fused;
  throw InvalidArgument("option 'schedule'", "expected 'auto', 'panel', 'stream' or 'fused', got '" + text + "'");
}

const char* to_string(ExactSchedule s) {
  switch (s) {
    case ExactSchedule::Panel: return "panel";
    case ExactSchedule::Stream: return "stream";
    case ExactSchedule::Fused: return "fused";
    default: return "auto";
  }
}

// Measured (benchmarks/lora/exact_schedules.py, float32, r = 8, partial and full,
// L = 512 .. 16384, d = 4 .. 128, medians of 5 interleaved repetitions, 2 threads,
// Xeon family 6 model 207 AVX-512, 2026-12-01), after the fused kernel became
// register-blocked over 4 query rows: fused is the fastest schedule at every L for
// d <= 32 (d = 32, L = 16384: 550 ms against 781 stream and 861 panel); at d = 64
// and 128 panel (BLAS) is faster up to L = 1024-2048 (d = 64, L = 1024: 3.5
// against 4.2 ms) and fused from L = 4096 on (d = 64, L = 16384: 780 against
// 1190 ms). stream is never the fastest.
ExactSchedule exact_schedule_for(long long width, long long length) {
  if (width <= 48) return ExactSchedule::Fused;
  return length <= 2048 ? ExactSchedule::Panel : ExactSchedule::Fused;
}

ExactConfig resolved(ExactConfig c, long long width, long long length) {
  if (c.schedule == ExactSchedule::Auto) c.schedule = exact_schedule_for(width, length);
  return c;
}

namespace detail {

namespace {

// The row blocks of queries [queries.first, + count) of sequence b against all its keys.
template <class T>
RowBlockSums<T> run_row_blocks(const Problem<T>& p, Index b, const SequenceFactors<T>& f, const ExactConfig& c,
                               RowRange queries) {
  const Matrix<T>& X = p.X[b];
  const Index L = X.rows();
  const Index rows = exact_block_rows(c, L, sizeof(T));
  const Index blocks = (static_cast<Index>(queries.count) + rows - 1) / rows;
  const T beta = static_cast<T>(p.beta);
  RowBlockSums<T> total(f.widths, L);
  const int threads = c.threads > 0 ? c.threads : omp_get_max_threads();
  const bool keep_exp = fused_keeps_exp(c, rows, L, sizeof(T));
  // A tile wider than the sequence buys nothing; unclamped, tile=887841875 made
  // the fused scratch ask for 28 GB and tiles near LLONG_MAX overflow the column
  // loops (fuzz findings).
  const Index tile = std::min<Index>(static_cast<Index>(c.tile_cols), std::max<Index>(L, 1));
  const std::optional<FusedKeys<T>> keys =
      c.schedule == ExactSchedule::Fused ? std::optional<FusedKeys<T>>(std::in_place, f) : std::nullopt;
#pragma omp parallel num_threads(threads)
  {
    RowBlockSums<T> sums(f.widths, L);
    PanelScratch<T> panel;
    StreamScratch<T> stream;
    FusedScratch<T> fused;
#pragma omp for schedule(dynamic, 1)
    for (Index blk = 0; blk < blocks; ++blk) {
      const RowBlock block{static_cast<Index>(queries.first) + blk * rows, std::min<Index>(rows, queries.count - blk * rows)};
      if (c.schedule == ExactSchedule::Panel)
        panel_rows(X, p.Y[b], f, beta, block, panel, sums);
      else if (c.schedule == ExactSchedule::Stream)
        stream_rows(X, p.Y[b], f, beta, block, tile, stream, sums);
      else
        fused_rows(X, p.Y[b], f, *keys, beta, block, tile, keep_exp, fused, sums);
    }
    fused_finish(fused, f.widths, sums);
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
  if (c.schedule == ExactSchedule::Auto)
    throw std::logic_error("exact_block_rows: resolve schedule=auto first (resolved())");
  long long rows = std::min(c.block_rows, std::max<long long>(length, 1));
  if (c.schedule == ExactSchedule::Panel)
    rows = std::min(rows, c.panel_bytes / (std::max<long long>(length, 1) * scalar_bytes));
  return std::max<long long>(1, rows);
}

bool fused_keeps_exp(const ExactConfig& c, long long rows, long long length, int scalar_bytes) {
  return !c.recompute && static_cast<double>(rows) * static_cast<double>(length + 128) * scalar_bytes <=
                             static_cast<double>(c.panel_bytes);
}

double exact_product_width(const ProblemShape& s, ExactSchedule schedule, bool recompute) {
  double width = 3.0 * s.width;  // S = beta Q K^T, O = F V, R V^T
  if (schedule == ExactSchedule::Stream || (schedule == ExactSchedule::Fused && recompute))
    width += s.width;  // S recomputed
  for (bool a : s.adapted)
    if (a) width += s.weights ? s.width : 2.0 * s.rank;
  return width;
}

// Exponentials: one per score pair, two where the backward recomputes them.
// Bytes beyond the caches: a panel (b x L, up to panel_mb) is written and read
// about 14 times per pair (S, its max and shift, exp, E N_F, E^T, dS and its
// two products); fused keeps E (written once, read once) while it fits
// panel_mb; tiles stay in cache, so stream and recompute stream only the key
// side (K, V and the thin factors) once per row block.
Cost exact_cost(const ProblemShape& s, int scalar_bytes, const ExactConfig& config) {
  const ExactConfig c = resolved(config, s.width, s.length);
  ProblemShape w = s;
  w.weights = c.weights;
  const long long rows = exact_block_rows(c, s.length, scalar_bytes);
  const bool keep = c.schedule == ExactSchedule::Fused && fused_keeps_exp(c, rows, s.length, scalar_bytes);
  const bool recompute = c.schedule == ExactSchedule::Stream || (c.schedule == ExactSchedule::Fused && !keep);
  const double pairs = static_cast<double>(s.length) * s.length * s.batch;
  const double key_side = exact_product_width(w, ExactSchedule::Panel, false) - s.width;  // K, V, thin factors
  const double passes = c.schedule == ExactSchedule::Panel ? 14.0 : keep ? 2.0 : 0.0;
  Cost cost;
  cost.flops = 2.0 * pairs * exact_product_width(w, c.schedule, recompute);
  cost.exps = recompute ? 2.0 * pairs : pairs;
  cost.bytes = scalar_bytes * pairs * (passes + key_side / static_cast<double>(rows));
  cost.rows = static_cast<double>(s.length) * s.batch;
  return cost;
}

double exact_workspace_bytes(const ProblemShape& s, int scalar_bytes, const ExactConfig& config) {
  const ExactConfig c = resolved(config, s.width, s.length);
  ProblemShape w = s;
  w.weights = c.weights;
  const double rows = static_cast<double>(exact_block_rows(c, s.length, scalar_bytes));
  const double cols = c.schedule == ExactSchedule::Panel ? s.length : std::min<double>(c.tile_cols, s.length);
  const double threads = c.threads > 0 ? c.threads : omp_threads();
  // Per thread: two rows x cols blocks and the L-row sums; shared: Q, K, V and
  // the thin factors (fused: their padded key-side copies too, and per-lane
  // accumulators of 64 bytes per row and thin column).
  const double thin = exact_product_width(w, ExactSchedule::Panel, false) - 3.0 * s.width;
  double per_thread = 2.0 * rows * cols + thin * s.length, shared = (4.0 * s.width + thin) * s.length;
  if (c.schedule == ExactSchedule::Fused) {
    per_thread += thin * s.length + rows * (s.width + thin) * 64.0 / scalar_bytes;
    if (fused_keeps_exp(c, static_cast<long long>(rows), s.length, scalar_bytes)) per_thread += rows * (s.length + 128.0);
    shared += (2.0 * s.width + thin) * (s.length + 64.0);
  }
  return scalar_bytes * (threads * per_thread + shared);
}

template <class T>
Gradients<T> exact_gradients(const Problem<T>& p, const ExactConfig& config) {
  const ExactConfig c = resolved(config, p.width(), p.length());
  const auto W = detail::effective_weights(p);
  detail::ContractedGradients<T> sums;
  for (detail::Index b = 0; b < p.batch(); ++b) {
    const Matrix<T>& X = p.X[b];
    const auto f = detail::make_factors(p, X, W, c.weights);
    detail::contract(p, X, f, detail::run_row_blocks(p, b, f, c, RowRange{0, p.length()}), sums);
  }
  Gradients<T> g = detail::assemble_gradients(p, sums, c.weights, true);
  g.info["block_rows"] = static_cast<double>(exact_block_rows(c, p.length(), sizeof(T)));
  g.info["schedule"] = static_cast<double>(c.schedule);  // 0 panel, 1 stream, 2 fused
  return g;
}

// Each process gathers X (the keys' rows are formed from it: d columns, fewer
// than K, V and the thin factors), runs its own queries against every key and
// sums the contracted products (d x r) with the others. The key-side sums
// (dS^T N_dST, F^T R A_v^T) cover every key row, but each process contracts
// them with X^T before they leave it. Y stays local: only its own rows are read.
template <class T>
Gradients<T> exact_gradients_shard(const Problem<T>& shard, const ShardLayout& layout, Collectives& comm,
                                   const ExactConfig& config) {
  const ExactConfig c = resolved(config, shard.width(), layout.length);
  // Every process holds the key side of the whole sequence (and X, Y at length L):
  // the workspace of the whole L, checked on every process and agreed.
  detail::agreed(comm, "exact's workspace", [&] {
    ProblemShape shape = shape_of(shard, false);
    shape.length = layout.length;
    const double bytes = exact_workspace_bytes(shape, sizeof(T), c) +
                         2.0 * static_cast<double>(layout.length * shard.width() * shard.batch()) * sizeof(T);
    require_memory("L", bytes, "exact, sequence-parallel, on L = " + std::to_string(layout.length));
    return 0;
  });
  const auto W = detail::effective_weights(shard);
  Problem<T> whole = shard;  // the adapters and weights; X gathered, Y padded with rows never read
  detail::ContractedGradients<T> sums;
  for (detail::Index b = 0; b < shard.batch(); ++b) {
    whole.X[b] = detail::gather_rows(shard.X[b], layout, comm);
    whole.Y[b] = Matrix<T>::Zero(layout.length, shard.width());
    whole.Y[b].middleRows(layout.rows.first, layout.rows.count) = shard.Y[b];
    const auto f = detail::make_factors(whole, whole.X[b], W, c.weights);
    detail::contract(whole, whole.X[b], f, detail::run_row_blocks(whole, b, f, c, layout.rows), sums);
  }
  detail::sum_all(sums, comm);
  Gradients<T> g = detail::assemble_gradients(shard, sums, c.weights, true);
  g.info["block_rows"] = static_cast<double>(exact_block_rows(c, layout.length, sizeof(T)));
  g.info["schedule"] = static_cast<double>(c.schedule);
  return g;
}

template Gradients<float> exact_gradients(const Problem<float>&, const ExactConfig&);
template Gradients<double> exact_gradients(const Problem<double>&, const ExactConfig&);
template Gradients<float> exact_gradients_shard(const Problem<float>&, const ShardLayout&, Collectives&,
                                                const ExactConfig&);
template Gradients<double> exact_gradients_shard(const Problem<double>&, const ShardLayout&, Collectives&,
                                                 const ExactConfig&);

}  // namespace lorafgc::lora
