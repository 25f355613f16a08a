#pragma once
// FAVOR+ (Choromanski et al., ICLR 2021): positive random features for exp,
//   exp(x.y) = E_w[ exp(w.x - ||x||^2/2) exp(w.y - ||y||^2/2) ],  w ~ N(0, I_d),
// with x = sqrt(T) q^, y = sqrt(T) k^ so that x.y = S' (the certified range's
// scaled rows, lora/common/certified_range.hpp). m directions in blocks of d
// orthogonal ones (Gram-Schmidt of a Gaussian block, each row rescaled to the
// norm of an independent Gaussian vector): the marginals stay N(0, I_d), the
// variance drops. Every entry is positive, so the approximate normaliser D is
// too. No certificate: the error is measured (benchmarks/lora/random_features.py).
//
// Range: a factor per query row cancels in softmax, so the query side is
// exp(w.x - max_i w_i.x) <= 1; the key side is exp(w.y - ||y||^2/2 - c) with the
// global c = max_i ||w_i||^2 / 2 >= w.y - ||y||^2/2, also <= 1.
#include "lora/poly/feature_map.hpp"

#include <cstdint>

namespace lorafgc::lora::detail {

// The m x d directions (double, then rounded to T by the map).
Eigen::MatrixXd favor_directions(Eigen::Index width, Eigen::Index count, std::uint64_t seed, bool orthogonal);

template <class T>
class FavorFeatures final : public FeatureMap<T> {
 public:
  // score_scale: T_used, the range the scaled rows were scaled by.
  FavorFeatures(const Eigen::MatrixXd& directions, double score_scale);
  Eigen::Index rank() const override { return directions_.rows(); }
  void queries(const Eigen::Ref<const Matrix<T>>& Q_hat, Matrix<T>& out) const override;
  void keys(const Eigen::Ref<const Matrix<T>>& K_hat, Matrix<T>& out) const override;
  // Each query row carries exp(-||x||^2/2 - max_i w_i.x) and every key exp(-c): a
  // softmax is blind to them, exact entries beside them are not.
  bool estimates_exp_itself() const override { return false; }

 private:
  Matrix<T> directions_;  // sqrt(T) w_i as rows: projections of q^, k^ give w.x, w.y
  T root_scale_, key_offset_;
};

}  // namespace lorafgc::lora::detail
