#pragma once
// The per-sequence thin factors the fused algorithms multiply the L x L
// matrices F and dS with (docs/lora-gradients.md, "Thin factors"): chosen so
// that the L x L matrices meet only products of width r (adapter gradients) or
// d (S, O, R V^T). With `whole` (the d x d weight gradients are wanted, or the
// polynomial method's uncontracted route) every contraction with A_mu^T is
// one with the identity and the X B_mu groups are dropped: dB and dA then
// follow from dW in O(d^2 r).
#include <lorafgc/lora/problem.hpp>

#include <array>

namespace lorafgc::lora::detail {

using Index = Eigen::Index;

// Column widths of the thin factors; 0 for a projection that is not adapted.
struct ThinWidths {
  Index d = 0;
  Index K_Aq = 0;  // K A_q^T: r (d whole)
  Index X_Bk = 0;  // X B_k:   r (0 whole)
  Index X_Bq = 0;  // X B_q:   r (0 whole)
  Index Q_Ak = 0;  // Q A_k^T: r (d whole)
  Index X_Bv = 0;  // X B_v:   r (0 whole)
  Index AvT = 0;   // A_v^T:   r (d whole)

  Index N_dS() const { return K_Aq + X_Bk; }
  Index N_dST() const { return X_Bq + Q_Ak; }
};

ThinWidths thin_widths(const std::array<bool, 3>& adapted, Index d, Index r, bool whole);
ThinWidths thin_widths(const ProblemShape& shape, bool whole);

template <class T>
struct SequenceFactors {
  Matrix<T> Q, K, V;  // X W_q, X W_k, X W_v (effective weights)
  Matrix<T> N_dS;     // [K A_q^T | X B_k]  (L x N_dS):  dS N_dS is wanted
  Matrix<T> N_dST;    // [X B_q | Q A_k^T]  (L x N_dST): dS^T N_dST is wanted
  Matrix<T> N_F;      // [V | X B_v]        (L x (d + X_Bv)): F N_F is wanted
  Matrix<T> AvT;      // A_v^T (I whole)    (d x AvT): F^T (R AvT) is wanted
  ThinWidths widths;
};

// W*_mu + s B_mu A_mu for q, k, v, indexed by Projection.
template <class T>
std::array<Matrix<T>, 3> effective_weights(const Problem<T>& p);

template <class T>
SequenceFactors<T> make_factors(const Problem<T>& p, const Matrix<T>& X, const std::array<Matrix<T>, 3>& W,
                                bool whole);

}  // namespace lorafgc::lora::detail
