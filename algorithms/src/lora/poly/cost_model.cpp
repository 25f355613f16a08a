// The polynomial method's cost model: flops and workspace from the shape and
// the rank, and the plan (degree, rank, bytes) checked before allocating.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/system_info.hpp>

#include "lora/common/thin_factors.hpp"
#include "lora/poly/monomial_features.hpp"
#include "lora/poly/poly.hpp"

#include <algorithm>
#include <cstdio>

namespace lorafgc::lora {

namespace {

// Per row and feature: the columns of the sweeps' products (sums side by side),
// and the number of sweeps that form a block of features.
struct SweepWidths {
  double product_columns = 0;
  double feature_sweeps = 0;
};

SweepWidths sweep_widths(const ProblemShape& s, const PolyConfig& c) {
  const detail::ThinWidths w = detail::thin_widths(s, c.whole());
  const double d = static_cast<double>(w.d), N_dS = static_cast<double>(w.N_dS()),
               N_dST = static_cast<double>(w.N_dST());
  SweepWidths out;
  out.product_columns += (1 + d + w.X_Bv) + (N_dS ? N_dS * (d + 1) : 0);                          // sweep A
  out.product_columns += (1 + d + w.X_Bv) + w.AvT + (N_dS ? N_dS * (d + 1) : 0) + N_dST * (d + 1);  // sweep B
  out.product_columns += w.AvT + N_dST * (d + 1);                                                 // sweep C
  out.feature_sweeps = (w.AvT + w.N_dST()) ? 3 : 2;
  return out;
}

}  // namespace

double poly_flops(const ProblemShape& s, long long k, const PolyConfig& c) {
  const SweepWidths w = sweep_widths(s, c);
  return s.batch * 2.0 * s.length * static_cast<double>(k) * (w.product_columns + w.feature_sweeps);
}

namespace {

// A block of features this large stays in a Zen 5 core's share of L3 (32 MiB
// for two cores) beside the sums; Sapphire Rapids has 2 MiB of L2 and more L3.
constexpr double kFeatureBlockBytes = 8.0 * 1048576.0;

// Features are formed per block of rows (b x k) in each sweep that forms them,
// and read by each product that takes them: once in sweeps A and C, twice in B
// (sweeps.cpp). The k-row sums of a sweep are read and written once per block.
// A block of at most kFeatureBlockBytes stays in cache between those passes; a
// larger one goes through memory, each pass at about twice the cost of streaming
// it (kOutOfCachePassWeight, fitted to the measurements at sweep_block_rows: with
// weight 1 the model kept 512 rows at d = 8, k = 43758, float and double, where
// 32 to 64 rows ran 1.5x to 1.8x faster). Bytes per row and feature:
constexpr double kOutOfCachePassWeight = 2.0;

double sweep_traffic(double b, double k, int scalar_bytes, const SweepWidths& w) {
  const bool in_cache = b * k * scalar_bytes <= kFeatureBlockBytes;
  const double feature_passes = 2.0 * w.feature_sweeps + 1.0;
  return scalar_bytes * ((in_cache ? 0.0 : kOutOfCachePassWeight * feature_passes) + 2.0 * w.product_columns / b);
}

}  // namespace

// The option's rows if set; by default kMostSweepRows, or fewer when that keeps
// a block's features in cache and moves fewer bytes (sweep_traffic): 512 rows
// stop fitting from k of about 4096 in float, and fewer rows read the sums more
// often, which loses once the sums are as large as the cache (d = 16 and 32 at
// ranks of 6e4). Measured on Zen 5 (1 MiB L2 per core, 32 MiB L3), float32
// partial, gaussian, L = 32768, one run of 3 calls per block size, poly-cheb at a
// fixed degree, 512 rows against the best multiple of 16 seen: d = 8, k = 12870:
// 0.85 s, 0.58 (112 rows); k = 24310: 2.25 s, 1.25 (64); k = 43758: 4.27 s, 2.50
// (64); d = 16, k = 20349: 2.36 s, 1.57 (96);
// k = 74613: 512 rows best (8.86 s, 9.22 at 32); d = 32, k = 58905: 512 best
// (10.5 s, 13.1 at 32).
long long sweep_block_rows(const ProblemShape& s, long long k, int scalar_bytes, const PolyConfig& c) {
  const long long length = std::max<long long>(s.length, 1);
  if (c.block_rows > 0) return std::min(c.block_rows, length);
  const long long most = std::min(kMostSweepRows, length);
  const double fit_rows = kFeatureBlockBytes / (static_cast<double>(std::max<long long>(k, 1)) * scalar_bytes);
  const long long fit = std::max<long long>(32, static_cast<long long>(fit_rows) / 8 * 8);
  if (fit >= most) return most;
  const SweepWidths w = sweep_widths(s, c);
  const double kk = static_cast<double>(k);
  return sweep_traffic(static_cast<double>(fit), kk, scalar_bytes, w) <
                 sweep_traffic(static_cast<double>(most), kk, scalar_bytes, w)
             ? fit
             : most;
}

// No exponentials: exp is the polynomial.
Cost poly_cost(const ProblemShape& s, long long k, int scalar_bytes, const PolyConfig& c) {
  const SweepWidths w = sweep_widths(s, c);
  const double b = static_cast<double>(sweep_block_rows(s, k, scalar_bytes, c));
  const double Lk = s.batch * static_cast<double>(s.length) * static_cast<double>(k);
  Cost cost;
  cost.flops = poly_flops(s, k, c);
  cost.bytes = Lk * sweep_traffic(b, static_cast<double>(k), scalar_bytes, w);
  cost.flop_kind = FlopKind::thin_gemm;
  cost.rows = static_cast<double>(s.length) * s.batch;
  return cost;
}

double poly_workspace_bytes(const ProblemShape& s, long long k, int scalar_bytes, const PolyConfig& c) {
  const detail::ThinWidths w = detail::thin_widths(s, c.whole());
  const double d = static_cast<double>(w.d), N_dS = static_cast<double>(w.N_dS()),
               N_dST = static_cast<double>(w.N_dST());
  const double threads = c.threads > 0 ? c.threads : omp_threads();
  const double b = static_cast<double>(sweep_block_rows(s, k, scalar_bytes, c));
  const double sums = static_cast<double>(k) * ((1 + d + w.X_Bv) + N_dS + d * N_dS + w.AvT + d * N_dST + N_dST);
  const double per_thread = b * k + b * d * std::max(N_dS, N_dST) + sums;
  const double per_sequence = s.length * (5.0 * d + N_dS + N_dST + w.X_Bv);  // Q, K, V, Q^, K^, thin factors
  return scalar_bytes * ((threads + 1) * per_thread + per_sequence);
}

namespace {

// Columns of the right-hand sides the exact pairs multiply: sweep A's
// [1 | N_F | N_dS | (diag(V_c) N_dS)_c] and sweep B's query sums.
struct PairWidths {
  double keys = 0, queries = 0;
};

PairWidths pair_widths(const ProblemShape& s, const PolyConfig& c) {
  const detail::ThinWidths w = detail::thin_widths(s, c.whole());
  const double d = static_cast<double>(w.d), N_dS = static_cast<double>(w.N_dS()),
               N_dST = static_cast<double>(w.N_dST());
  return {(1 + d + w.X_Bv) + N_dS * (d + 1), w.AvT + N_dST * (d + 1)};
}

}  // namespace

Cost exact_pairs_cost(const ProblemShape& s, long long outlier_queries, long long outlier_keys, const PolyConfig& c) {
  const PairWidths w = pair_widths(s, c);
  const double L = static_cast<double>(s.length), d = static_cast<double>(s.width),
               mq = static_cast<double>(std::min<long long>(outlier_queries, s.length)),
               mk = static_cast<double>(std::min<long long>(outlier_keys, s.length));
  // Outlier queries' rows: scores for the row maxima, then scores and exp in
  // sweep A and (with a key side) sweep C; outlier keys' columns: sweep B only.
  const double query_passes = w.queries > 0 ? 3 : 2;
  Cost cost;
  cost.exps = s.batch * L * ((query_passes - 1) * mq + mk);
  cost.flops = s.batch * 2.0 * L *
               (d * (query_passes * mq + mk) + mq * w.keys + mk * (w.keys + w.queries) + (w.queries > 0 ? mq * w.queries : 0));
  cost.flop_kind = FlopKind::thin_gemm;
  cost.rows = L * s.batch;
  cost.gathered_flops = cost.flops;
  return cost;
}

double exact_pairs_workspace_bytes(const ProblemShape& s, long long outlier_queries, long long outlier_keys,
                                   int scalar_bytes, const PolyConfig& c) {
  const PairWidths w = pair_widths(s, c);
  const double threads = c.threads > 0 ? c.threads : omp_threads();
  const double m = static_cast<double>(std::min<long long>(outlier_queries, s.length) +
                                       std::min<long long>(outlier_keys, s.length));
  const double b = static_cast<double>(
      std::min<long long>(c.block_rows > 0 ? c.block_rows : kMostSweepRows, std::max<long long>(s.length, 1)));
  return scalar_bytes * ((threads + 1) * m * (w.keys + w.queries) + threads * b * m + m * (s.width + 4096.0));
}

PolyPlan plan_poly(const ProblemShape& s, double score_bound, int scalar_bytes, const PolyConfig& c) {
  PolyPlan plan;
  // Certified on the grid value just above score_bound (cached across runs).
  plan.polynomial = certified_exp_polynomial(c.kind, c.eps, c.degree, score_bound, c.beta_sensitivity, c.score_rms);
  plan.score_bound = plan.polynomial.score_bound;
  const int g = plan.polynomial.degree;
  plan.rank = monomial_rank(s.width, g);
  const double budget = c.memory_budget_bytes > 0 ? c.memory_budget_bytes : physical_memory_bytes() / 2;
  char text[320];
  if (plan.rank < 0 || plan.rank > (1LL << 40)) {
    std::snprintf(text, sizeof text,
                  "degree %d with d = %lld: rank C(d + g, g) %s (T = %.4g, eps = %.3g); no memory budget "
                  "holds such features",
                  g, static_cast<long long>(s.width), plan.rank < 0 ? "overflows 64 bits" : "exceeds 2^40",
                  score_bound, c.eps);
    throw InvalidArgument("degree", text);
  }
  plan.bytes = poly_workspace_bytes(s, plan.rank, scalar_bytes, c);
  plan.flops = poly_flops(s, plan.rank, c);
  if (plan.bytes > budget) {
    std::snprintf(text, sizeof text,
                  "degree %d, rank %lld needs %.3g bytes of workspace, over the budget of %.3g bytes "
                  "(T = %.4g, eps = %.3g; raise option memory_mb or lower the degree)",
                  g, plan.rank, plan.bytes, budget, score_bound, c.eps);
    throw InvalidArgument("memory budget", text);
  }
  return plan;
}

}  // namespace lorafgc::lora
