#pragma once
// The nearly-linear algorithm (Alman-Song's polynomial method, chained through
// the gradient as in Hu et al., ICLR 2025, Lemmas 3.3-3.7): exp(S) ~ U W^T with
// U = phi(Q), W = psi(K) of rank k = C(d + g, g), and every product with F or dS
// taken through the factors; never an L x L matrix. Three sweeps over row blocks
// (keys, queries, keys), so memory is O(b k + k d m), below the O(L k) the
// paper's factors need. Names: docs/lora-gradients.md.
//
// contract = true (default): the thin factors K A_q^T, X B_q, ... (width m = r
// or 2r) enter before the row-Kronecker step: O(L k d r) time.
// contract = false: the paper's route, whole dW (m = d), then dB, dA: O(L k d^2).
#include <lorafgc/core/option_table.hpp>
#include <lorafgc/lora/attention.hpp>
#include <lorafgc/lora/cost_model.hpp>
#include <lorafgc/lora/gradients.hpp>
#include <lorafgc/lora/problem.hpp>
#include <lorafgc/lora/sequence_parallel.hpp>

#include "lora/poly/exp_polynomial.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace lorafgc::lora {

struct PolyConfig {
  PolynomialKind kind = PolynomialKind::Chebyshev;
  double eps = 1e-3;             // relative error of P against exp on [-T, T]
  // s_beta and the scores' rms: s_beta > 0 holds even Chebyshev degrees to
  // eps / gradient_error_factor (exp_polynomial.hpp); auto passes its
  // estimate of s_beta (lora/auto_select/beta_sensitivity.hpp), no rms.
  double beta_sensitivity = 0;
  double score_rms = 0;
  int degree = -1;               // fixed degree; -1: the smallest meeting eps
  bool contract = true;
  bool weights = false;          // also return the d x d weight gradients
  bool centre = true;            // certified range of centred keys (lora/common/certified_range.hpp)
  long long range_rows = 64;     // budget of the exact search for the largest scores
  long long block_rows = 0;      // rows per block of the sweeps; 0: sweep_block_rows chooses
  int threads = 0;
  double memory_budget_bytes = 0;  // 0: half of physical memory
  // poly-hybrid: the longest rows of Q and of K taken exactly (outlier_rows.hpp);
  // 0: none (poly-cheb, poly-taylor), -1: the counts the cost model picks.
  long long outliers = 0;
  bool hybrid = false;  // poly-hybrid: report the outlier choice in info
  // poly-hybrid's LoRA gradients: re-centre the keys on the bulk's mean once the
  // rows are chosen (bulk_range.hpp). Attention on Q, K, V always does.
  bool recentre = false;

  bool whole() const { return weights || !contract; }
};

// What a run will cost, known before anything is allocated.
struct PolyPlan {
  double score_bound = 0;        // T: P is certified on [-T, T] (certification_grid of the range asked for)
  ExpPolynomial polynomial;
  long long rank = 0;            // k
  double bytes = 0;              // workspace estimate
  double flops = 0;
};

// Rounding of <phi, psi>: a sum of k + g + 1 products per entry whose degree-j
// terms add up to at most |ct_j| rho^j in magnitude (rho bounds sum_a
// |Q^_ia K^_ja| over the pairs the features serve, 1 without the adaptive
// range), relative to e^{-T}: gamma_{k+g+1}(u) sum_j |ct_j| rho^j e^T.
template <class T>
inline double feature_rounding(const PolyPlan& plan, double rho) {
  rho = std::max(1.0, rho);
  double coeff_sum = 0, power = 1;
  for (double v : plan.polynomial.scaled) {
    coeff_sum += std::abs(v) * power;
    power *= rho;
  }
  const double u = std::numeric_limits<T>::epsilon() / 2,
               n_terms = static_cast<double>(plan.rank + plan.polynomial.degree + 1);
  return n_terms * u / (1 - n_terms * u) * coeff_sum * std::exp(plan.score_bound);
}

// Relative rounding of poly-hybrid's exact entries exp(S'_ij) (and of the
// causal diagonal chunks'): the d-term score and its scaling and shift (|S'|
// and |shift| <= T_centred) round by at most (d + 4) u T_centred, exp by 4u;
// the LoRA sweeps also scale a bulk row's features by a rounded exp(-shift_i),
// 3u that poly_gradients adds to their rounding.
template <class T>
inline double exact_pair_rounding(double T_centred, double width) {
  const double u = std::numeric_limits<T>::epsilon() / 2;
  return std::expm1((width + 4) * u * T_centred * (1 + 1e-6)) + 4 * u;
}

// Throws InvalidArgument naming degree, rank and bytes when over budget.
PolyPlan plan_poly(const ProblemShape& shape, double score_bound, int scalar_bytes, const PolyConfig& config);
double poly_flops(const ProblemShape& shape, long long rank, const PolyConfig& config);
Cost poly_cost(const ProblemShape& shape, long long rank, int scalar_bytes, const PolyConfig& config);
// Rows per block of the sweeps: config.block_rows if set; else at most
// kMostSweepRows, fewer at large ranks (cost_model.cpp).
constexpr long long kMostSweepRows = 512;
long long sweep_block_rows(const ProblemShape& shape, long long rank, int scalar_bytes, const PolyConfig& config);
double poly_workspace_bytes(const ProblemShape& shape, long long rank, int scalar_bytes, const PolyConfig& config);
// poly-hybrid's exact pairs (exact_pairs.hpp): the scores, exponentials and
// products of m_q outlier rows and m_k outlier columns, and their sums' bytes.
Cost exact_pairs_cost(const ProblemShape& shape, long long outlier_queries, long long outlier_keys,
                      const PolyConfig& config);
// cost += pairs: poly-hybrid's exact pairs on top of its polynomial.
inline void add_exact_pairs(Cost& cost, const Cost& pairs) {
  cost.flops += pairs.flops;
  cost.exps += pairs.exps;
  cost.gathered_flops += pairs.gathered_flops;
}
double exact_pairs_workspace_bytes(const ProblemShape& shape, long long outlier_queries, long long outlier_keys,
                                   int scalar_bytes, const PolyConfig& config);

// The registry's options of the polynomial method (registration.cpp), and an
// algorithm made from them: poly-cheb, poly-taylor, and poly-hybrid with its
// option `outliers` added.
std::vector<OptionSpec> poly_options();
class Algorithm;
// hybrid: the options include `outliers` (poly-hybrid).
std::unique_ptr<Algorithm> make_poly(const std::string& name, PolynomialKind kind, const OptionValues& options,
                                     bool hybrid = false);

// The cost of poly_gradients on this instance (shape: shape_of(problem)): the
// degree its certified range needs and, for poly-hybrid, the outliers it picks
// (planned as a run plans, without running; O(L d (d + range_rows)) plus the
// outlier ranking).
template <class T>
Cost poly_instance_cost(const Problem<T>& problem, const ProblemShape& shape, const PolyConfig& config);
// Lower bounds on poly_instance_cost (Algorithm::cost_floors) from a few exact
// rows of scores (range_floor.hpp) and the degrees certified below them.
template <class T>
std::vector<Cost> poly_cost_floors(const Problem<T>& problem, const ProblemShape& shape, const PolyConfig& config);

// Attention on Q, K, V (lorafgc/lora/attention.hpp; validated by the caller):
// one polynomial certified on the certified range of every sequence's scores,
// O(L k d^2) per sequence, causal by chunks; poly-hybrid's exact rows add
// O(L m d) (docs/attention-backend.md).
template <class T>
void poly_attention_forward(const AttentionShape& shape, const AttentionForwardIO<T>& io, const PolyConfig& config);
template <class T>
void poly_attention_backward(const AttentionShape& shape, const AttentionBackwardIO<T>& io,
                             const PolyConfig& config);
// Their cost together on these queries and keys (Algorithm::attention_cost):
// the plan both make (certified range, degree, poly-hybrid's rows), counted as
// for problem_shape.
template <class T>
Cost poly_attention_cost(const ProblemShape& problem_shape, const AttentionShape& shape, const T* q, const T* k,
                         const PolyConfig& config);

// Gradients plus info: degree, rank, T_cauchy_schwarz, T_centred, T_used (the
// certified range of the scores), T (the interval P is certified on: T_used
// rounded up to the certification grid, at most 1.1% more), poly_error (certified
// relative error of P), eval_error (rounding allowance), certified (1 when
// poly_error + eval_error < 1), error_bound (only when certified: a-priori
// entrywise bound on |G~ - G| over all returned gradients, see error_bound.hpp),
// workspace_bytes and flops (the plan's estimates, made before allocating).
// With outliers != 0 (poly-hybrid) also outlier_queries, outlier_keys (m_q, m_k),
// T_bulk (the range the outliers leave), predicted_flops and
// predicted_flops_without (the choice's and plain poly's, exponentials counted
// at kExpFlops), and T, degree, rank, flops of the bulk polynomial plus the pairs.
// `problem` is validated by the caller (detail::Registered).
template <class T>
Gradients<T> poly_gradients(const Problem<T>& problem, const PolyConfig& config);
// This process's part of a sequence-parallel run (lorafgc/lora/sequence_parallel.hpp):
// range_rows must be 0 and poly-hybrid is refused.
template <class T>
Gradients<T> poly_gradients_shard(const Problem<T>& shard, const ShardLayout& layout, Collectives& comm,
                                  const PolyConfig& config);

}  // namespace lorafgc::lora
