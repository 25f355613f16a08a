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

// Features are formed per block of rows (b x k, written, then packed by BLAS:
// two passes) and the k-row sums of a sweep are read and written once per block.
// No exponentials: exp is the polynomial.
Cost poly_cost(const ProblemShape& s, long long k, int scalar_bytes, const PolyConfig& c) {
  const SweepWidths w = sweep_widths(s, c);
  const double b = static_cast<double>(std::min<long long>(c.block_rows, std::max<long long>(s.length, 1)));
  const double Lk = s.batch * static_cast<double>(s.length) * static_cast<double>(k);
  Cost cost;
  cost.flops = poly_flops(s, k, c);
  cost.bytes = scalar_bytes * Lk * (2.0 * w.feature_sweeps + 2.0 * w.product_columns / b);
  cost.flop_kind = FlopKind::thin_gemm;
  cost.rows = static_cast<double>(s.length) * s.batch;
  return cost;
}

double poly_workspace_bytes(const ProblemShape& s, long long k, int scalar_bytes, const PolyConfig& c) {
  const detail::ThinWidths w = detail::thin_widths(s, c.whole());
  const double d = static_cast<double>(w.d), N_dS = static_cast<double>(w.N_dS()),
               N_dST = static_cast<double>(w.N_dST());
  const double threads = c.threads > 0 ? c.threads : omp_threads();
  const double b = static_cast<double>(std::min<long long>(c.block_rows, std::max<long long>(s.length, 1)));
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
  const double b = static_cast<double>(std::min<long long>(c.block_rows, std::max<long long>(s.length, 1)));
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
