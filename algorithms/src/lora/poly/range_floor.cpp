#include "lora/poly/range_floor.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lorafgc::lora::detail {

template <class T>
double range_floor(const std::vector<SequenceRows<T>>& rows, double beta, Eigen::Index sample) {
  using Index = Eigen::Index;
  double spread = 0;
  const double u = std::numeric_limits<T>::epsilon() / 2;
  for (const SequenceRows<T>& r : rows) {
    const double d = static_cast<double>(r.Q.cols()), gamma = d * u / (1 - d * u);
    // Each score rounds by at most gamma_d ||Q_i|| ||K_j - c||.
    const double rounding = gamma * r.queries.max_norm() * r.keys.max_norm();
    const auto longest = [&](const Matrix<T>& side, const NormBuckets& norms, const Matrix<T>& other) {
      const Index n = std::min(sample, side.rows());
      Matrix<T> R(n, side.cols());
      for (Index i = 0; i < n; ++i) R.row(i) = side.row(norms.order()[static_cast<std::size_t>(i)]);
      spread = std::max(spread, std::abs(beta) * (max_abs_product<T>(R, other) - rounding));
    };
    longest(r.Q, r.queries, r.Kc);
    longest(r.Kc, r.keys, r.Q);
  }
  return spread;
}

template double range_floor(const std::vector<SequenceRows<float>>&, double, Eigen::Index);
template double range_floor(const std::vector<SequenceRows<double>>&, double, Eigen::Index);

}  // namespace lorafgc::lora::detail
