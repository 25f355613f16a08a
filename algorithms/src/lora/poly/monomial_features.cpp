#include "lora/poly/monomial_features.hpp"

#include <lorafgc/core/errors.hpp>

#include "lora/poly/feature_map.hpp"

#include <cmath>
#include <limits>

namespace lorafgc::lora {

long long monomial_rank(long long d, long long g) {
  if (d < 0 || g < 0) return -1;
  // C(d+g, g) = prod_{i=1..g} (d + i) / i, exact at every step; in 64 bits
  // while the product fits, else in 128 (dividing in 128 bits every step was
  // a twelfth of auto's plan, which asks for a rank per outlier-count pair).
  unsigned long long c = 1;
  for (long long i = 1; i <= g; ++i) {
    unsigned long long product = 0;
    if (__builtin_mul_overflow(c, static_cast<unsigned long long>(d + i), &product)) {
      const __int128 wide = static_cast<__int128>(c) * (d + i) / i;
      if (wide > std::numeric_limits<long long>::max()) return -1;
      c = static_cast<unsigned long long>(wide);
    } else {
      c = product / static_cast<unsigned long long>(i);
    }
    if (c > static_cast<unsigned long long>(std::numeric_limits<long long>::max())) return -1;
  }
  return static_cast<long long>(c);
}

MonomialFeatures::MonomialFeatures(int width, int degree) : width_(width), degree_(degree) {
  if (width < 1) throw InvalidArgument("d", "feature width must be at least 1");
  if (degree < 0) throw InvalidArgument("degree", "must be >= 0");
  const long long k = monomial_rank(width, degree);
  if (k < 0 || k > (1LL << 40))
    throw InvalidArgument("degree", "rank C(d + g, g) with d = " + std::to_string(width) +
                                        ", g = " + std::to_string(degree) + " overflows");
  parent_.reserve(k);
  parent_.push_back(-1);
  variable_.push_back(-1);
  total_degree_.push_back(0);
  multinomial_.push_back(1.0);
  std::vector<int> last_power{0};  // exponent of the last (largest) variable
  std::size_t begin = 0;
  for (int j = 1; j <= degree; ++j) {
    const std::size_t end = parent_.size();
    for (std::size_t m = begin; m < end; ++m) {
      // Append variables in non-decreasing order so each multi-index appears once.
      for (int i = std::max(variable_[m], 0); i < width; ++i) {
        const int power = i == variable_[m] ? last_power[m] + 1 : 1;
        parent_.push_back(static_cast<int>(m));
        variable_.push_back(i);
        total_degree_.push_back(j);
        multinomial_.push_back(multinomial_[m] * j / power);
        last_power.push_back(power);
      }
    }
    begin = end;
  }
}

void MonomialFeatures::weights(const std::vector<double>& scaled, std::vector<double>& query_side,
                               std::vector<double>& key_side) const {
  if (static_cast<int>(scaled.size()) != degree_ + 1)
    throw InvalidArgument("polynomial", "has " + std::to_string(scaled.size() - 1) + " degrees, features " +
                                            std::to_string(degree_));
  query_side.resize(parent_.size());
  key_side.resize(parent_.size());
  for (std::size_t a = 0; a < parent_.size(); ++a) {
    const double c = scaled[total_degree_[a]];
    const double w = std::sqrt(std::abs(c) * multinomial_[a]);
    key_side[a] = w;
    query_side[a] = c < 0 ? -w : w;
  }
}

template <class T>
void MonomialFeatures::evaluate(const Eigen::Ref<const Matrix<T>>& Z, const std::vector<double>& weight,
                                Matrix<T>& out) const {
  if (Z.cols() != width_) throw InvalidArgument("Z", "width differs from the feature map's");
  const Eigen::Index n = Z.rows();
  out.resize(n, rank());
  out.col(0).setOnes();
  for (std::size_t a = 1; a < parent_.size(); ++a)
    out.col(a) = out.col(parent_[a]).cwiseProduct(Z.col(variable_[a]));
  for (std::size_t a = 0; a < parent_.size(); ++a) out.col(a) *= static_cast<T>(weight[a]);
}

template void MonomialFeatures::evaluate(const Eigen::Ref<const Matrix<float>>&, const std::vector<double>&,
                                         Matrix<float>&) const;
template void MonomialFeatures::evaluate(const Eigen::Ref<const Matrix<double>>&, const std::vector<double>&,
                                         Matrix<double>&) const;

namespace detail {

template <class T>
MonomialFeatureMap<T>::MonomialFeatureMap(int width, int degree, const std::vector<double>& scaled)
    : features_(width, degree) {
  features_.weights(scaled, query_weights_, key_weights_);
}

template <class T>
void MonomialFeatureMap<T>::queries(const Eigen::Ref<const Matrix<T>>& Q_hat, Matrix<T>& out) const {
  features_.evaluate<T>(Q_hat, query_weights_, out);
}

template <class T>
void MonomialFeatureMap<T>::keys(const Eigen::Ref<const Matrix<T>>& K_hat, Matrix<T>& out) const {
  features_.evaluate<T>(K_hat, key_weights_, out);
}

template class MonomialFeatureMap<float>;
template class MonomialFeatureMap<double>;

}  // namespace detail

}  // namespace lorafgc::lora
