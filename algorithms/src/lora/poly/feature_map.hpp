#pragma once
// What the sweeps (sweeps.hpp) need of a low-rank factorisation of the exp
// matrix, E ~ U W^T with U = phi(Q^), W = psi(K^): the rank and both maps on a
// block of rows. The polynomial method's monomial features are one
// (MonomialFeatureMap); the random feature maps of lora/favor and
// lora/poly_sketch are others, and go through the same chained backward pass.
#include <lorafgc/core/types.hpp>

#include "lora/poly/monomial_features.hpp"

#include <vector>

namespace lorafgc::lora::detail {

template <class T>
class FeatureMap {
 public:
  virtual ~FeatureMap() = default;
  virtual Eigen::Index rank() const = 0;
  // out (n x rank) = phi of the rows of Q_hat (n x d) / psi of the rows of K_hat.
  virtual void queries(const Eigen::Ref<const Matrix<T>>& Q_hat, Matrix<T>& out) const = 0;
  virtual void keys(const Eigen::Ref<const Matrix<T>>& K_hat, Matrix<T>& out) const = 0;
  // Whether phi(q).psi(k) estimates exp(S') itself, so that exact entries may
  // stand beside it (the causal diagonal chunks, poly-hybrid's rows). A map
  // whose rows carry a factor of their own (FAVOR+'s stabilisers) says no, and
  // the causal attention takes its diagonal chunks from the map too.
  virtual bool estimates_exp_itself() const { return true; }
};

// <phi(q), psi(k)> = P(T q.k) for the polynomial with scaled coefficients ct.
// Defined in monomial_features.cpp, beside MonomialFeatures::evaluate: a call
// from this header to its explicit instantiations did not link under clang
// (the fuzz build), which mangles the Ref parameter's default stride apart.
template <class T>
class MonomialFeatureMap final : public FeatureMap<T> {
 public:
  MonomialFeatureMap(int width, int degree, const std::vector<double>& scaled);
  Eigen::Index rank() const override { return static_cast<Eigen::Index>(features_.rank()); }
  void queries(const Eigen::Ref<const Matrix<T>>& Q_hat, Matrix<T>& out) const override;
  void keys(const Eigen::Ref<const Matrix<T>>& K_hat, Matrix<T>& out) const override;

 private:
  MonomialFeatures features_;
  std::vector<double> query_weights_, key_weights_;
};

}  // namespace lorafgc::lora::detail
