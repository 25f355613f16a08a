#pragma once
// poly-sketch's features: the certified polynomial P(T x) = sum_j ct_j x^j of
// the polynomial method, with the degree-j monomials (rank C(d + j - 1, j))
// replaced by a random sketch of width m (in the spirit of PolySketchFormer and
// TensorSketch; here the Gaussian product sketch):
//   s_j(x)_r = prod_{t <= j} (g_{jtr} . x) / sqrt(m),   g_{jtr} ~ N(0, I_d),
// so that E[<s_j(q), s_j(k)>] = prod_t E[(g.q)(g.k)] = (q.k)^j. The features are
// [sign(ct_0) w_0 | sign(ct_1) w_1 s_1(q) | ...] and [w_0 | w_1 s_1(k) | ...] with
// w_j = sqrt(|ct_j|): rank 1 + g m, an unbiased estimate of P(T q.k) (itself
// within eps of exp). No certificate; D may come out <= 0 at small m, which the
// sweeps refuse (NumericalError naming the method).
#include "lora/poly/feature_map.hpp"

#include <cstdint>
#include <vector>

namespace lorafgc::lora::detail {

template <class T>
class SketchFeatures final : public FeatureMap<T> {
 public:
  // scaled: ct_0 .. ct_g; width: m per degree.
  SketchFeatures(int d, const std::vector<double>& scaled, Eigen::Index width, std::uint64_t seed);
  Eigen::Index rank() const override { return 1 + static_cast<Eigen::Index>(projections_.size()) * width_; }
  void queries(const Eigen::Ref<const Matrix<T>>& Q_hat, Matrix<T>& out) const override { evaluate(Q_hat, true, out); }
  void keys(const Eigen::Ref<const Matrix<T>>& K_hat, Matrix<T>& out) const override { evaluate(K_hat, false, out); }

 private:
  void evaluate(const Eigen::Ref<const Matrix<T>>& Z, bool query, Matrix<T>& out) const;

  Eigen::Index width_;
  std::vector<Matrix<T>> projections_;  // degree j: (j m) x d, the g_{jtr} for t = 1..j stacked
  std::vector<double> weight_, sign_;   // w_j / sqrt(m) (w_0 for j = 0) and sign(ct_j)
};

}  // namespace lorafgc::lora::detail
