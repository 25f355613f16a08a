#pragma once
// poly-hybrid's choice of the rows it takes exactly (docs/lora-gradients.md,
// "The hybrid method"). With O_q the m_q longest scaled queries and O_k the m_k
// longest scaled keys of every sequence, every pair left to the polynomial has
// |S'_ij| <= T_used ||Q^_i|| ||K^_j|| <= T_used q(m_q) k(m_k), q(m) and k(m) the
// (m+1)-th largest norms (Cauchy-Schwarz on what the outliers leave): the bulk
// range. The counts minimise the predicted flops of the polynomial on the bulk
// range plus the exact pairs' products and exponentials.
#include <lorafgc/lora/problem.hpp>

#include "lora/common/thin_factors.hpp"
#include "lora/poly/poly.hpp"

#include <functional>
#include <map>
#include <optional>
#include <vector>

namespace lorafgc::lora::detail {

// The row norms of a matrix (in double) and the (m+1)-th largest for every m
// the choice considers (outlier_counts and `count`).
struct LongestRows {
  std::vector<double> norms;           // of every row
  std::map<Index, double> norm_after;  // m -> the (m+1)-th largest norm
  // A bound on every row but the m longest (0 past the end); m must be one of the counts considered.
  double after(Index m) const;
  // The m longest rows (ties at the m-th norm by row order); m as for after().
  std::vector<Index> first(Index m) const;
};

template <class T>
LongestRows longest_rows(const Matrix<T>& M, Index count);

// The largest count the automatic choice considers.
inline constexpr Index kMaxOutliers = 16384;

// The counts considered: 0, 8, 16, 32, ... up to half the sequence (at most `max_count`).
std::vector<Index> outlier_counts(Index length, Index max_count);

struct OutlierChoice {
  Index queries = 0, keys = 0;   // m_q, m_k (the same for every sequence)
  double product_bound = 0;      // max over sequences of q(m_q) k(m_k), the ranking's prediction of the bulk
                                 // (bulk_range.hpp bounds the bulk once the rows are chosen)
  double predicted_flops = 0;    // of the choice, and of plain poly (m = 0), exponentials at kExpFlops
  double predicted_flops_without = 0;
};

// Flops one exponential is counted as when the choice weighs exact pairs
// against polynomial rank: the dispatched vector exp costs about 20 FMA-flops
// per value on AVX2 and AVX-512 (cost-model calibration: exp rate vs thin GEMM rate).
inline constexpr double kExpFlops = 20;
// The exact pairs' products are gathered (cost_model.hpp): their counted flops
// are weighted by kGatheredFlopWeight in the choice.

// queries[b], keys[b]: the longest rows of sequence b's Q^ and K^ (scaled to
// T_used). config.outliers >= 0 fixes m_q = m_k = min(outliers, L); -1 chooses
// both among outlier_counts(). The polynomial's degree for a candidate range
// is predicted (predicted_degree), the chosen one certified by the caller.
OutlierChoice choose_outliers(const ProblemShape& shape, double T_used, double unit_roundoff,
                              const std::vector<LongestRows>& queries, const std::vector<LongestRows>& keys,
                              const PolyConfig& config);

// With the counts chosen (outliers = -1, degree chosen) on a range T_used:
// whether choose_outliers is sure to take none. It does when no pair of
// counts predicts fewer flops than none even at the least degree its bulk can
// need: log2_bulk_floor(a, b), for counts[a] and counts[b] (every pair but
// (0, 0)), must lie at or below log2 of max over sequences of
// |beta| q(m_q) k(m_k) in score units, the choice's bulk bound. The same rule
// as choose_outliers', on lower bounds: auto's plan reads it off the norm
// buckets (poly_cost_floors) instead of ranking the rows.
bool outliers_never_pay(const ProblemShape& shape, double T_used, const std::vector<Index>& counts,
                        const std::function<double(std::size_t, std::size_t)>& log2_bulk_floor,
                        const PolyConfig& config);

// With the counts chosen (outliers = -1): the choice of none, when even the
// cheapest pairs (8 rows of one side) cost more than the polynomial at degree
// 0 saves over the degree T_used needs (predicted flops, as the choice counts
// them); then nothing needs ranking. nullopt: the counts must be compared.
std::optional<OutlierChoice> outliers_cannot_pay(const ProblemShape& shape, double T_used, const PolyConfig& config);

// The smallest degree whose error bound (Taylor: Lagrange's remainder;
// Chebyshev: the aliasing sum 2 e^T sum_{k > g} 2 I_k(T), the leading term of
// the certificate) is at most eps on [-T, T]; -1 past max_degree.
int predicted_degree(PolynomialKind kind, double eps, double score_bound, int max_degree = 120);

}  // namespace lorafgc::lora::detail
