#pragma once
// Sums of ReLUs that stand in for r and r' inside the transformer (Definition 4
// of Wu et al., after Bai et al. 2023): f_H(t) = sum_h c_h relu(a_h1 t + a_h2)
// with |a_h1| + |a_h2| = 1, fitted on [-R, R].
//
// The fit is the piecewise-linear interpolant of f on a graded knot grid; in
// one variable this needs far fewer units than Lemma 7's generic O(eps^-2).
// On a cell of width h the interpolation error is at most h^2/8 max|f''|, and
// for all four functions used (softplus, sigmoid, sigmoid', sigmoid'')
//     |f''(t)| <= min(1/4, e^{-|t|})
// (each is s(1-s) times a factor of modulus <= 1, s = sigmoid(t), and
// s(1-s) <= min(1/4, e^{-|t|})). Cells therefore widen like e^{|t|/2} away from
// 0, and the unit count for tolerance tau is about 4 / sqrt(8 tau) + O(log R):
// almost independent of the range. The bound is rigorous up to rounding
// (~1e-16 times the largest partial sum).
#include <lorafgc/icl/activation.hpp>

#include <vector>

namespace lorafgc::icl {

enum class FittedFunction { r, r_prime };

struct ReluUnit {
  double slope = 0;  // a_h1
  double shift = 0;  // a_h2
  double coefficient = 0;  // c_h
};

struct ReluSum {
  std::vector<ReluUnit> units;
  std::vector<double> knots;  // interpolation knots, -range .. range
  double range = 0;           // R: valid for |t| <= R only
  double error_bound = 0;     // sup_{|t|<=R} |f_H - f| (interpolation bound)

  double operator()(double t) const;
  double coefficient_sum() const;  // C = sum_h |c_h|
};

// Exactly one of tolerance (> 0) and units (>= 3) is set. With a unit budget
// the tolerance is the smallest whose grid fits the budget.
struct FitTarget {
  double tolerance = 0;
  int units = 0;
  void validate() const;  // InvalidArgument("fit_tolerance"/"relu_units")
};

ReluSum fit_relu_sum(Activation act, FittedFunction which, double range, const FitTarget& target);

// max |f_H(t) - f(t)| over `samples` equally spaced points of [-R, R]: the
// measured counterpart of error_bound.
double measured_error(const ReluSum& fit, Activation act, FittedFunction which, int samples = 20001);

double evaluate(Activation act, FittedFunction which, double t);

}  // namespace lorafgc::icl
