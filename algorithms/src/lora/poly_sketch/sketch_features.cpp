#include "lora/poly_sketch/sketch_features.hpp"

#include <lorafgc/core/random.hpp>

#include "lora/common/blas_gemm.hpp"

#include <cmath>

namespace lorafgc::lora::detail {

template <class T>
SketchFeatures<T>::SketchFeatures(int d, const std::vector<double>& scaled, Eigen::Index width, std::uint64_t seed)
    : width_(width) {
  std::mt19937_64 rng(seed);
  for (std::size_t j = 0; j < scaled.size(); ++j) {
    const double w = std::sqrt(std::abs(scaled[j]));
    weight_.push_back(j == 0 ? w : w / std::sqrt(static_cast<double>(width)));
    sign_.push_back(scaled[j] < 0 ? -1.0 : 1.0);
    if (j > 0) projections_.push_back(gaussian_matrix(rng, static_cast<Eigen::Index>(j) * width, d).template cast<T>());
  }
}

template <class T>
void SketchFeatures<T>::evaluate(const Eigen::Ref<const Matrix<T>>& Z, bool query, Matrix<T>& out) const {
  const Eigen::Index n = Z.rows(), m = width_;
  out.resize(n, rank());
  out.col(0).setConstant(static_cast<T>(weight_[0] * (query ? sign_[0] : 1.0)));
  Matrix<T> projected;
  for (std::size_t j = 1; j <= projections_.size(); ++j) {
    const Matrix<T>& G = projections_[j - 1];
    projected.resize(n, G.rows());
    gemm_nt<T>(T(1), Z, G, T(0), projected);  // (g_{jtr} . z) for t = 1..j side by side
    auto block = out.middleCols(1 + static_cast<Eigen::Index>(j - 1) * m, m);
    block = projected.leftCols(m);
    for (std::size_t t = 1; t < j; ++t) block.array() *= projected.middleCols(static_cast<Eigen::Index>(t) * m, m).array();
    block *= static_cast<T>(weight_[j] * (query ? sign_[j] : 1.0));
  }
}

template class SketchFeatures<float>;
template class SketchFeatures<double>;

}  // namespace lorafgc::lora::detail
