#pragma once
// Symmetric tensor-power (monomial) features: for a polynomial
// P(T x) = sum_j ct_j x^j and unit-bounded vectors q, k (||q||, ||k|| <= 1),
//   P(T q.k) = sum_j ct_j (q.k)^j = sum_{|a| <= g} ct_|a| (|a|! / a!) q^a k^a
//            = <phi(q), psi(k)>,
// with one coordinate per multi-index a, rank C(d + g, g). The weight
// sqrt(|ct_j| j!/a!) goes to both sides (sign(ct_j) to the query side), which keeps
// both feature vectors of the same size and far from float's range limits.
// The caller scales q and k to norm <= 1 first ("scale before expanding"), so
// |q^a| <= 1 and no power of the raw scores is ever formed.
#include <lorafgc/core/types.hpp>

#include <vector>

namespace lorafgc::lora {

// C(d + g, g), or -1 when it does not fit in a signed 64-bit integer.
long long monomial_rank(long long d, long long g);

class MonomialFeatures {
 public:
  // Throws InvalidArgument("degree") when the rank overflows.
  MonomialFeatures(int width, int degree);

  int width() const { return width_; }
  int degree() const { return degree_; }
  long long rank() const { return static_cast<long long>(parent_.size()); }

  // Column weights for the scaled coefficients ct (size degree + 1).
  void weights(const std::vector<double>& scaled, std::vector<double>& query_side,
               std::vector<double>& key_side) const;

  // out (n x rank) = monomials of the rows of Z (n x width) times `weight`.
  template <class T>
  void evaluate(const Eigen::Ref<const Matrix<T>>& Z, const std::vector<double>& weight, Matrix<T>& out) const;

 private:
  int width_, degree_;
  std::vector<int> parent_, variable_, total_degree_;  // graded order; entry 0 is 1
  std::vector<double> multinomial_;                    // |a|! / a!
};

}  // namespace lorafgc::lora
