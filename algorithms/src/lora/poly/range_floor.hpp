#pragma once
// Lower bounds on the ranges the polynomial method certifies, cheaper than
// the ranges themselves (docs/auto.md, "Pruning"). auto's plan predicts from
// them first and skips the certified range, and poly-hybrid's ranking, of a
// candidate whose floor cannot beat a cheaper one: at L = 512 those cost half
// as much as exact itself.
//
//  - T_used >= |beta Q_i.(K_j - c)| for every pair, c the range's centre
//    (certified_range.hpp): the scores of the longest queries against every
//    key, and of the longest centred keys against every query, are computed
//    (the first round of the range's own search).
//  - poly-hybrid's bulk range for counts (m_q, m_k) is |beta| q(m_q) k(m_k)
//    (outlier_rows.hpp), q and k the (m+1)-th largest norms of Q and K - c:
//    one bucket pass over the norms bounds every order statistic from below
//    (norm_buckets.hpp).
#include <lorafgc/lora/problem.hpp>

#include "lora/common/norm_buckets.hpp"
#include "lora/common/thin_factors.hpp"

#include <array>
#include <vector>

namespace lorafgc::lora::detail {

struct RangeFloor {
  double spread = 0;  // <= T_used (for the same centring, any range_rows)
  // Per sequence: of Q, and of K - c (c the certified range's centre, or 0).
  std::vector<NormBuckets> queries, keys;
};

// `rows` longest queries and keys sampled: O(L d (d + rows)).
template <class T>
RangeFloor range_floor(const Problem<T>& problem, const std::array<Matrix<T>, 3>& W, bool centre, Index rows = 8);

}  // namespace lorafgc::lora::detail
