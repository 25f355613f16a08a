#include "lora/poly/bulk_range.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace lorafgc::lora::detail {

std::vector<Index> rows_besides(Index n, const std::vector<Index>& exact) {
  std::vector<Index> out;
  for (Index i = 0, e = 0; i < n; ++i) {
    if (e < static_cast<Index>(exact.size()) && exact[static_cast<std::size_t>(e)] == i) {
      ++e;
      continue;
    }
    out.push_back(i);
  }
  return out;
}

template <class T>
LongestRows farthest_keys(const Matrix<T>& K, const CertifiedRange& range, std::size_t sequence, bool centre,
                          Index most) {
  CertifiedRange ranking = range;
  if (centre) ranking.centres.at(sequence) = K.template cast<double>().colwise().mean().transpose();
  return longest_rows(scaled_keys<T>(K, ranking, sequence), most);
}

ExactRows exact_rows_of(const LongestRows& queries, const LongestRows& keys, const OutlierChoice& choice) {
  ExactRows x{queries.first(choice.queries), keys.first(choice.keys)};
  std::sort(x.queries.begin(), x.queries.end());
  std::sort(x.keys.begin(), x.keys.end());
  return x;
}

namespace {

template <class T>
double max_norm(const Matrix<T>& M, const std::vector<Index>& rows) {
  return rows.empty() ? 0.0 : row_norms<T>(M(rows, Eigen::all)).maxCoeff();
}

}  // namespace

template <class T>
BulkBound sequence_bulk_bound(const Matrix<T>& Q, const Matrix<T>& K, const ExactRows& exact, Eigen::VectorXd& centre,
                              bool recentre) {
  const std::vector<Index> bulk_keys = rows_besides(K.rows(), exact.keys);
  // The centre is rounded to T so that K - centre below is the same difference the run forms.
  if (recentre && !exact.keys.empty() && !bulk_keys.empty())
    centre = K(bulk_keys, Eigen::all).template cast<double>().colwise().mean().transpose().template cast<T>()
                 .template cast<double>();
  Matrix<T> Kc = K;
  Kc.rowwise() -= centre.template cast<T>().transpose();
  BulkBound b;
  b.bulk = max_norm(Q, rows_besides(Q.rows(), exact.queries)) * max_norm(Kc, bulk_keys);
  b.all = static_cast<double>(row_norms<T>(Q).maxCoeff() * row_norms<T>(Kc).maxCoeff());
  return b;
}

template <class T>
double bulk_bound_margin(Index width) {
  return 1 + 3 * std::numeric_limits<T>::epsilon() + 8 * std::numeric_limits<double>::epsilon() * (width + 2);
}

template <class T>
std::vector<double> bulk_key_radius_floor(const Matrix<T>& K, const std::vector<Index>& counts) {
  // The order statistics through a histogram of each column (one pass, O(L)),
  // as bin edges: the (m+1)-th largest entry lies at or above its bin's lower
  // edge, the (m+1)-th smallest at or below its bin's upper edge, one bin more
  // on each side for the rounding of the bin index. Exact selections
  // (nth_element on two copies per column) were 0.65 of auto's 2.8 ms plan at
  // L = 16384, d = 4; the edges cost 3 bins of the column's span (0.3%), where
  // the degree grid's steps are 9%.
  constexpr int kBins = 1024;
  const Index n = K.rows();
  std::vector<double> out(counts.size(), 0.0);
  std::vector<Index> histogram(kBins);
  std::vector<std::size_t> order(counts.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return counts[a] < counts[b]; });
  const double u = std::numeric_limits<T>::epsilon();
  for (Index a = 0; a < K.cols() && n > 0; ++a) {
    const auto column = K.col(a);
    const double lo = static_cast<double>(column.minCoeff()), hi = static_cast<double>(column.maxCoeff());
    const double scale = kBins / (hi - lo), reach = std::max(std::abs(lo), std::abs(hi));
    // One value has no spread; a column that overflowed (X W_k beyond T's range) or whose span
    // underflows the bin scale gets no floor from this column: 0 is always a valid floor.
    if (!(hi > lo) || !std::isfinite(scale) || !std::isfinite(reach)) continue;
    std::fill(histogram.begin(), histogram.end(), 0);
    // Clamped in double, before the conversion: a NaN entry lands in the top bin, not in UB.
    for (Index j = 0; j < n; ++j)
      ++histogram[static_cast<std::size_t>(
          std::min(kBins - 1.0, (static_cast<double>(column[j]) - lo) * scale))];
    // One walk from each end for all counts, smallest first.
    int top = kBins - 1, bottom = 0;
    Index above = histogram[kBins - 1], below = histogram[0];
    for (std::size_t i : order) {
      const Index m = counts[i];
      if (m >= n) break;
      while (above <= m) above += histogram[static_cast<std::size_t>(--top)];
      while (below <= m) below += histogram[static_cast<std::size_t>(++bottom)];
      // The plan centres the same keys on a c' inside their span: its entries round by u of at most
      // 2 reach, ours by u reach, so half a spread moves by 3u reach; its norms round by a few u more.
      const double half = ((top - 1) - (bottom + 2)) / scale / 2 - 4 * u * reach;
      out[i] = std::max(out[i], std::max(0.0, half) * (1 - 4 * u));
    }
  }
  return out;
}

template <class T>
std::vector<double> bulk_mean_radius_floor(const SequenceRows<T>& rows, const std::vector<Index>& counts) {
  const Index n = rows.Kc.rows();
  const double u = std::numeric_limits<T>::epsilon();
  // mu - c0, a column at a time: casting the whole of Kc to double would copy it.
  Eigen::VectorXd mean_offset(rows.Kc.cols());
  for (Index a = 0; a < rows.Kc.cols(); ++a)
    mean_offset[a] = rows.Kc.col(a).template cast<double>().sum() / static_cast<double>(std::max<Index>(n, 1));
  const double offset = mean_offset.norm(), radius = rows.keys.max_norm() + offset, c0 = rows.centre.norm();
  // The plan's c_B is a mean of n doubles: off by at most n eps of the largest ||k_j|| <= c0 + radius.
  const double mean_rounding = static_cast<double>(n) * std::numeric_limits<double>::epsilon() * (c0 + radius);
  std::vector<double> out(counts.size(), 0.0);
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const Index m = counts[i];
    if (m >= n) continue;
    const double shift = offset + static_cast<double>(m) / static_cast<double>(n - m) * radius;
    // Kc rounds by u of its entries, the plan's c_B to T by u of ||c_B|| <= ||c0|| + shift, its K - c_B
    // by u again; the means and norms here by a few u of the radius.
    const double floor =
        rows.keys.at_least_at(m) * (1 - 2 * u) - shift - u * (c0 + shift) - 8 * u * radius - mean_rounding;
    out[i] = std::max(0.0, floor) * (1 - 4 * u);
  }
  return out;
}

template BulkBound sequence_bulk_bound(const Matrix<float>&, const Matrix<float>&, const ExactRows&, Eigen::VectorXd&,
                                       bool);
template BulkBound sequence_bulk_bound(const Matrix<double>&, const Matrix<double>&, const ExactRows&,
                                       Eigen::VectorXd&, bool);
template std::vector<double> bulk_key_radius_floor(const Matrix<float>&, const std::vector<Index>&);
template std::vector<double> bulk_key_radius_floor(const Matrix<double>&, const std::vector<Index>&);
template LongestRows farthest_keys(const Matrix<float>&, const CertifiedRange&, std::size_t, bool, Index);
template LongestRows farthest_keys(const Matrix<double>&, const CertifiedRange&, std::size_t, bool, Index);
template std::vector<double> bulk_mean_radius_floor(const SequenceRows<float>&, const std::vector<Index>&);
template std::vector<double> bulk_mean_radius_floor(const SequenceRows<double>&, const std::vector<Index>&);
template double bulk_bound_margin<float>(Index);
template double bulk_bound_margin<double>(Index);

}  // namespace lorafgc::lora::detail
