#pragma once
// The certified score range an approximation of exp is fitted on
// (docs/lora-gradients.md, "Certified score range"). Two exact facts tighten
// the Cauchy-Schwarz bound T = |beta| max||Q_i|| max||K_j||:
//  1. Softmax is invariant to a shift of each row of S. Replacing K_j by
//     K_j - c shifts row i by beta Q_i.c, so the polynomial need only cover
//     S'_ij = beta Q_i.(K_j - c); with a common key component, c removes it.
//  2. The pairs that reach the Cauchy-Schwarz bound involve the few longest
//     rows. The scores of the m longest queries against every key, and of the
//     m longest centred keys against every query, are computed exactly; every
//     other pair is bounded by the (m+1)-th largest norms (to within 0.8%:
//     the rows are ordered by norm buckets, norm_buckets.hpp). m doubles until that
//     bound falls below the largest exact score (T_used is then the true
//     max |S'_ij|) or a budget is spent; pairs that Cauchy-Schwarz already
//     puts below the best score are skipped, so m reaches hundreds of rows at
//     the cost of a few.
// T_used is the larger of the two, plus the rounding of the exact scores and
// of the scaled features, so |S'_ij| <= T_used holds for the scores the
// features actually represent (tests/lora/test_certified_range.cpp checks it).
#include <lorafgc/lora/problem.hpp>
#include <lorafgc/lora/score_range.hpp>
#include <lorafgc/lora/sequence_parallel.hpp>

#include "lora/common/norm_buckets.hpp"

#include <memory>
#include <vector>

namespace lorafgc::lora::detail {

struct CertifiedRange {
  double beta = 1;
  double T_cauchy_schwarz = 0;  // |beta| max||Q_i|| max||K_j|| over the batch
  double T_centred = 0;         // |beta| max||Q_i|| max||K_j - c_b||
  double T_used = 0;            // >= |S'_ij| for every pair, rounding included
  double query_norm = 0;        // rho_q = max||Q_i|| over the batch
  std::vector<Eigen::VectorXd> centres;  // c_b per sequence (zero without centring)

  // Bound on sum_a |Q^_ia| |K^_ja| of the scaled features below: the monomials
  // of degree j are at most this to the power j (for the rounding allowance).
  double feature_product_bound() const { return T_used > 0 ? T_centred / T_used : 0; }
  // Relative perturbation of exp(S'_ij) by the rounding of K - c and of the
  // scaling to Q^, K^: |delta S'| <= 3 u T_centred.
  double centring_error(double unit_roundoff) const;
};

// One sequence's queries and centred keys, their norms in buckets: what the
// range's search starts from, and what its floor (range_floor.hpp) and
// poly-hybrid's ranking read, formed once per plan (the plan memo shares them).
template <class T>
struct SequenceRows {
  SequenceRows(const Matrix<T>& x, const Matrix<T>& Wq, const Matrix<T>& Wk, bool centre);
  // From the queries and keys themselves (attention on Q, K, V).
  SequenceRows(Matrix<T> queries, Matrix<T> keys, bool centre);
  Matrix<T> Q;                 // X W_q
  Eigen::VectorXd centre;      // c (zero without centring), rounded to T
  Matrix<T> Kc;                // X W_k - c, as the features form it
  double key_norm = 0;         // max ||K_j|| before centring
  // >= ||mean - c||, mean the keys' exact mean (0 without centring): poly-hybrid
  // ranks the keys around their mean (farthest_keys), the norms here are around c.
  double key_mean_offset = 0;
  NormBuckets queries, keys;   // the row norms of Q and Kc
};

template <class T>
std::vector<SequenceRows<T>> sequence_rows(const std::vector<Matrix<T>>& X, const Matrix<T>& Wq,
                                           const Matrix<T>& Wk, bool centre);

// sequence_rows of p with its effective weights, formed once inside a plan memo
// (plan_memo.hpp): auto's plan (its shape's score bound, the polynomial's
// floors and range) and the run of its choice share them.
template <class T>
std::shared_ptr<const std::vector<SequenceRows<T>>> memoized_rows(const Problem<T>& p, bool centre);

// |beta| max_i ||Q_i|| max_j ||K_j|| over the batch (Problem::score_bound, the
// Cauchy-Schwarz bound) from rows already formed: at L = 1024, d = 32 forming
// Q and K again for shape_of was a third of auto's plan.
template <class T>
double cauchy_schwarz_bound(const std::vector<SequenceRows<T>>& rows, double beta);

// Over the batch X_b, with queries X_b W_q and keys X_b W_k (formed one
// sequence at a time).
template <class T>
CertifiedRange certified_range(const std::vector<Matrix<T>>& X, const Matrix<T>& Wq, const Matrix<T>& Wk,
                               double beta, const ScoreRangeOptions& options);
// The same from rows formed with options.centre.
template <class T>
CertifiedRange certified_range(const std::vector<SequenceRows<T>>& rows, double beta, const ScoreRangeOptions& options);

// Sequence-parallel (lorafgc/lora/sequence_parallel.hpp): the range of the
// whole batch from every process's rows X of sequences of `length` rows, by
// Cauchy-Schwarz on the centred keys (range_rows = 0: the exact search would
// need every process's longest rows), the same on every process.
template <class T>
CertifiedRange certified_range_shard(const std::vector<Matrix<T>>& X, const Matrix<T>& Wq, const Matrix<T>& Wk,
                                     double beta, bool centre, long long length, Collectives& comm);

// max |A B^T| without storing the scores.
template <class T>
double max_abs_product(const Eigen::Ref<const Matrix<T>>& A, const Eigen::Ref<const Matrix<T>>& B);

// The keys' centre c the range shifts by (the mean or the bounding box's
// midpoint, whichever is closer to the farthest key), rounded to T. With comm,
// K is this process's rows of a sequence of `length` rows, and c is the whole
// sequence's (the same on every process). mean, when given, receives the
// keys' mean as summed in T (within n u max||K_j|| of the exact one per column).
template <class T>
Eigen::VectorXd key_centre(const Matrix<T>& K, Collectives* comm = nullptr, long long length = 0,
                           Eigen::VectorXd* mean = nullptr);
// The row norms of M, in double.
template <class T>
Eigen::VectorXd row_norms(const Matrix<T>& M);

// Q / rho_q: rows of norm <= 1.
template <class T>
Matrix<T> scaled_queries(const Matrix<T>& Q, const CertifiedRange& range);
// beta rho_q (K_b - c_b) / T_used, so that scaled_queries(Q_b) scaled_keys(K_b)^T
// = S'_b / T_used lies in [-1, 1] entrywise.
template <class T>
Matrix<T> scaled_keys(const Matrix<T>& K, const CertifiedRange& range, std::size_t sequence);

}  // namespace lorafgc::lora::detail
