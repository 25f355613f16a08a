#pragma once
// poly-hybrid's bulk range once its exact rows are chosen (docs/lora-gradients.md,
// "The hybrid method"): every pair the polynomial still serves has
// |scale Q_i.(K_j - c)| <= |scale| max ||Q_i|| max ||K_j - c|| over the rows not
// taken exactly (Cauchy-Schwarz on the bulk). With centring, c is re-centred on
// the bulk's keys: the exact keys, far from the rest, pull the centre of all
// keys (the mean, or the bounding box's midpoint) away from the bulk and so widen
// its range; softmax is invariant to the per-row shift the new c makes. Shared by
// the LoRA gradients and attention on Q, K, V.
#include "lora/common/certified_range.hpp"
#include "lora/poly/chained_attention.hpp"
#include "lora/poly/outlier_rows.hpp"

#include <vector>

namespace lorafgc::lora::detail {

// The rows of 0 .. n-1 that are not in `exact` (ascending, as is `exact`).
std::vector<Index> rows_besides(Index n, const std::vector<Index>& exact);

// The `most` keys of one sequence farthest from their mean (from 0 without
// centring), scaled as `range` scales keys: the keys poly-hybrid takes exactly.
// Not from the range's centre: that (the bounding box's midpoint, when closer
// to the farthest key) can sit among the few far keys and rank bulk keys above
// them; the mean moves by their share only. sequence_bulk_bound then bounds the
// bulk whatever the ranking.
template <class T>
LongestRows farthest_keys(const Matrix<T>& K, const CertifiedRange& range, std::size_t sequence, bool centre,
                          Index most);

// One sequence's exact rows for the chosen counts, ascending.
ExactRows exact_rows_of(const LongestRows& queries, const LongestRows& keys, const OutlierChoice& choice);

struct BulkBound {
  double bulk = 0;  // max ||Q_i|| max ||K_j - c|| over the rows not in the exact ones
  double all = 0;   // the same over all rows
};

// One sequence: its queries Q and keys K (uncentred), its exact rows; `centre`
// is the range's c for the sequence, replaced by the bulk keys' mean (rounded
// to T) when `recentre` and some key is exact and some left to the bulk. The
// mean, not key_centre's better of mean and midpoint: it moves from the mean
// of all keys by at most m / (L - m) of their radius, which is what lets
// bulk_mean_radius_floor bound the re-centred bulk from the data's norms.
template <class T>
BulkBound sequence_bulk_bound(const Matrix<T>& Q, const Matrix<T>& K, const ExactRows& exact, Eigen::VectorXd& centre,
                              bool recentre);

// The factor on |scale| max(...) that covers the rounding of K - c and of the
// features' rescaling (a few roundings of each norm).
template <class T>
double bulk_bound_margin(Index width);

// For each m of `counts`: a floor under max_{j in B} ||K_j - c|| over every
// centre c and every set B of all keys but m. B keeps one of any m + 1 keys, so
// along every column it spans at least the (m+1)-th largest minus the (m+1)-th
// smallest entry, and no centre is nearer than half of that to both ends
// (read through a histogram's bin edges: a few bins of the column's span lower).
// poly-hybrid's cost floors read it: the bulk re-centred on its own keys can be
// narrower than the norms around the data's centre say. K may be centred on any
// c inside its span: the spreads do not move, and the floor allows for the
// rounding of centring the same keys on another such c. Only the same keys:
// another product order for X W_k moves the entries by up to gamma_d |X||W_k|,
// far more than the centred keys' rounding when they share a large component
// (why make_factors forms them as the range's rows do).
template <class T>
std::vector<double> bulk_key_radius_floor(const Matrix<T>& K, const std::vector<Index>& counts);

// For the sequence's rows (centred on c0) and m of `counts`: a floor under
// max_{j in B} ||K_j - c_B||, c_B the mean of B, over every set B of all keys
// but m: ||K_j - c_B|| >= ||K_j - c0|| - ||c_B - c0||, the first at least the
// (m+1)-th largest norm around c0 for some j in B, and ||c_B - c0|| <=
// ||mu - c0|| + m / (L - m) max_j ||K_j - mu||, mu the mean of all keys.
// Far tighter than the centre-free floor when m << L (the plan's choice).
template <class T>
std::vector<double> bulk_mean_radius_floor(const SequenceRows<T>& rows, const std::vector<Index>& counts);

}  // namespace lorafgc::lora::detail
