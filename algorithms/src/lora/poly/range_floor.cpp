#include "lora/poly/range_floor.hpp"

#include "lora/common/certified_range.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

namespace lorafgc::lora::detail {

template <class T>
RangeFloor range_floor(const Problem<T>& p, const std::array<Matrix<T>, 3>& W, bool centre, Index rows) {
  RangeFloor out;
  const double beta = std::abs(p.beta), u = std::numeric_limits<T>::epsilon() / 2;
  for (const Matrix<T>& x : p.X) {
    const Matrix<T> Q = x * W[index(Projection::Q)], K = x * W[index(Projection::K)];
    const Index d = Q.cols();
    // Keys by the norm poly-hybrid ranks them by (centred), queries by theirs.
    const Eigen::VectorXd c = centre && K.rows() ? key_centre(K) : Eigen::VectorXd::Zero(d);
    const Matrix<T> Kc = K.rowwise() - c.template cast<T>().transpose();  // as the range forms them
    const Eigen::VectorXd qn = row_norms(Q), kn = row_norms(Kc);
    out.queries.emplace_back(qn);
    out.keys.emplace_back(kn);
    // Each score rounds by at most gamma_d ||Q_i|| ||K_j - c||.
    const double gamma = d * u / (1 - d * u);
    const auto largest = [&](const Matrix<T>& side, const Eigen::VectorXd& norms, const NormBuckets& ranks,
                             const Matrix<T>& other, double other_norm) {
      const std::vector<Index> sample(ranks.order().begin(), ranks.order().begin() + std::min(rows, ranks.size()));
      Matrix<T> R(static_cast<Index>(sample.size()), d);
      for (std::size_t i = 0; i < sample.size(); ++i) R.row(static_cast<Index>(i)) = side.row(sample[i]);
      const Matrix<T> S = other * R.transpose();
      for (Index i = 0; i < S.cols(); ++i)
        out.spread = std::max(out.spread, beta * (static_cast<double>(S.col(i).cwiseAbs().maxCoeff()) -
                                                  gamma * norms[sample[static_cast<std::size_t>(i)]] * other_norm));
    };
    if (Q.rows() == 0) continue;
    largest(Q, qn, out.queries.back(), Kc, kn.maxCoeff());
    largest(Kc, kn, out.keys.back(), Q, qn.maxCoeff());
  }
  return out;
}

template RangeFloor range_floor(const Problem<float>&, const std::array<Matrix<float>, 3>&, bool, Index);
template RangeFloor range_floor(const Problem<double>&, const std::array<Matrix<double>, 3>&, bool, Index);

}  // namespace lorafgc::lora::detail
