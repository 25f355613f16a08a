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
// Both read the rows the range's search starts from (SequenceRows), formed
// once per plan: the plan memo hands them on to the range and the run.
#include <lorafgc/lora/problem.hpp>

#include "lora/common/certified_range.hpp"

#include <vector>

namespace lorafgc::lora::detail {

// <= T_used of the certified range on the same rows (any range_rows): the
// exact scores of the first `sample` rows of each side in norm order against
// every row of the other, less their rounding. O(L d sample).
template <class T>
double range_floor(const std::vector<SequenceRows<T>>& rows, double beta, Eigen::Index sample = 8);

}  // namespace lorafgc::lora::detail
