#include "lora/poly/bulk_range.hpp"

#include <algorithm>
#include <functional>
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
  if (recentre && !bulk_keys.empty()) centre = key_centre<T>(K(bulk_keys, Eigen::all));
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
  const Index n = K.rows();
  std::vector<Index> order(counts.size());
  std::iota(order.begin(), order.end(), Index{0});
  // Largest count first: each selection works on the prefix the one before left (O(L) per column).
  std::sort(order.begin(), order.end(), [&](Index a, Index b) { return counts[a] > counts[b]; });
  std::vector<double> out(counts.size(), 0.0), high(static_cast<std::size_t>(n)), low(static_cast<std::size_t>(n));
  const double u = std::numeric_limits<T>::epsilon();
  for (Index a = 0; a < K.cols(); ++a) {
    for (Index j = 0; j < n; ++j) high[j] = low[j] = static_cast<double>(K(j, a));
    const double reach = K.col(a).cwiseAbs().maxCoeff();
    auto high_end = high.end(), low_end = low.end();
    for (Index i : order) {
      const Index m = counts[i];
      if (m >= n) continue;
      std::nth_element(high.begin(), high.begin() + m, high_end, std::greater<double>());
      std::nth_element(low.begin(), low.begin() + m, low_end);
      high_end = high.begin() + m + 1, low_end = low.begin() + m + 1;
      // The plan centres the same keys on a c' inside their span: its entries round by u of at most
      // 2 reach, ours by u reach, so half a spread moves by 3u reach; its norms round by a few u more.
      const double half = (high[m] - low[m]) / 2 - 4 * u * reach;
      out[i] = std::max(out[i], std::max(0.0, half) * (1 - 4 * u));
    }
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
template double bulk_bound_margin<float>(Index);
template double bulk_bound_margin<double>(Index);

}  // namespace lorafgc::lora::detail
