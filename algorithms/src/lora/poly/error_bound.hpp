#pragma once
// The a-priori bound from the polynomial's relative error to the entrywise error
// of the gradients, first order in eta. Everything it needs is O(L d) to form.
//
// If every approximated entry of exp(S) has relative error <= e (polynomial
// error plus evaluation rounding), then with eta = 2e / (1 - e):
//   |F~_ij - F_ij| <= eta F_ij                      (softmax normalisation)
//   ||R~_i - R_i||_2 <= eta nu,     nu = max_j ||V_j||_2     (O = F V)
// With G_ij = R_i.V_j - delta_i (so dS = F o G), |G_ij| <= nu ||R_i|| + |delta_i|,
// |G~_ij - G_ij| <= eta nu^2 + eta nu (nu + ||R_i||), hence for any vector w
//   sum_j |dS~_ij - dS_ij| |w_j| <= eta z_i max|w|,
//   z_i = 2 nu ||R_i|| + |delta_i| + 2 nu^2.
// Through dW_q = beta X^T dS K, dW_k = beta X^T dS^T Q, dW_v = X^T F^T R:
//   |dW~_q - dW_q| <= beta eta ||K||_max max_a sum_i |X_ia| z_i
//   |dW~_k - dW_k| <= beta eta ||X||_max max_c sum_i |Q_ic| z_i
//   |dW~_v - dW_v| <= eta ||X||_max max_c sum_i (|R_ic| + nu)
// and dB = s dW A^T, dA = s B^T dW multiply by max_b ||A_b,:||_1 and
// max_b ||B_:,b||_1. Contracting with A^T or B^T first computes the same linear
// functions of dS and F, so the bound covers both routes. R, delta and z are of
// the true residual; the caller inflates the approximate ones by their eta terms.
#include <array>

namespace lorafgc::lora {

struct PolyBoundInputs {
  double eta = 0;
  double beta = 1, scale = 1;
  double X_max = 0, K_max = 0;
  double Xz = 0;  // max_a sum_i |X_ia| z_i
  double Qz = 0;  // max_c sum_i |Q_ic| z_i
  double Rs = 0;  // max_c sum_i (|R_ic| + nu)
  std::array<bool, 3> adapted{};
  bool weights = false;              // dW itself is returned and covered too
  std::array<double, 3> A_row_l1{};  // max_b ||A_b,:||_1 per projection
  std::array<double, 3> B_col_l1{};  // max_b ||B_:,b||_1 per projection
};

// 2 e / (1 - e): the relative entrywise error of the softmax.
double softmax_relative_error(double e);

// max over the adapted projections of the bounds on |dB~ - dB| and |dA~ - dA|
// (and |dW~ - dW| with `weights`).
double poly_gradient_error_bound(const PolyBoundInputs& in);

}  // namespace lorafgc::lora
