#pragma once
// The a-priori bound from the polynomial's relative error to the entrywise error
// of the gradients (first order in eta; derivation in docs below and in README).
//
// If every approximated entry of exp(S) has relative error <= e (polynomial
// error plus evaluation rounding), then with eta = 2e / (1 - e):
//   |F~_ij - F_ij| <= eta F_ij                         (softmax normalisation)
//   |R~_ic - R_ic| <= eta nu,         nu = max|V|      (O is F V)
//   sum_j |dS~_ij - dS_ij| <= zeta = eta (3 nu rho_R + 2 d nu^2),
//                                     rho_R = max_i ||R_i||_1
// and through dW_q = beta X^T dS K, dW_k = beta X^T dS^T Q, dW_v = X^T F^T R:
//   |dW~_q - dW_q| <= beta L ||X|| zeta ||K||,  |dW~_k - dW_k| <= beta L ||X|| zeta ||Q||,
//   |dW~_v - dW_v| <= L ||X|| eta (||R||_max + nu)            (||.|| = max-abs)
// then dB = s dW A^T and dA = s B^T dW:
//   |dB~ - dB| <= s e_W max_b ||A_b,:||_1,   |dA~ - dA| <= s e_W max_b ||B_:,b||_1.
// Contracting with A^T or B^T first computes the same linear functions of dS
// and F, so the bound holds for both routes.
#include <array>

namespace lorafgc {

struct PolyBoundInputs {
  double e = 0;                // relative error of each approximated exp entry
  long long length = 0, width = 0;
  double beta = 1, scale = 1;  // beta, s = alpha / r
  double nu = 0;               // max |V|
  double rho_R = 0;            // max_i ||R~_i||_1 of the approximate residual
  double R_max = 0;            // max |R~|
  double X_max = 0, Q_max = 0, K_max = 0;
  std::array<bool, 3> adapted{};
  std::array<double, 3> A_row_l1{};  // max_b ||A_b,:||_1 per projection
  std::array<double, 3> B_col_l1{};  // max_b ||B_:,b||_1 per projection
};

// max over the adapted projections of the bounds on |dB~ - dB| and |dA~ - dA|.
double poly_gradient_error_bound(const PolyBoundInputs& in);

}  // namespace lorafgc
