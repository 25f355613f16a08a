#pragma once
// Internal to the polynomial method: the three sweeps over row blocks of one
// sequence and the sums they produce (docs/lora-gradients.md, "The polynomial
// method's sums"). With U = phi(Q^) (query features), W = psi(K^) (key
// features) and D = U (W^T 1) the approximate softmax row sums:
//   F N      = D^-1 U (W^T N)
//   F^T M    = W (U^T D^-1 M)
//   dS N     = D^-1 [ sum_c diag(R_c) U M_c  -  diag(delta) U (W^T N) ],
//              M_c = W^T diag(V_c) N                      (k x m, one per c < d)
//   dS^T N'  = sum_c diag(V_c) W M'_c  -  W (U^T diag(delta / D) N'),
//              M'_c = U^T diag(R_c / D) N'
// The M_c stack side by side into one k x (d m) GEMM ("the row-Kronecker
// step"). Sweep A (keys) forms the key sums, sweep B (queries) O, R, delta,
// every query-side gradient and the query sums, sweep C (keys) the key-side
// gradients. N, N' are the thin factors N_dS, N_dST of lora/common.
#include "lora/common/thin_factors.hpp"
#include "lora/poly/exact_pairs.hpp"
#include "lora/poly/feature_map.hpp"

#include <vector>

namespace lorafgc::lora::detail {

template <class T>
using RowVector = Eigen::Matrix<T, 1, Eigen::Dynamic>;

// Everything the sweeps of one sequence read.
template <class T>
struct SequenceInputs {
  const Matrix<T>& X;
  const Matrix<T>& Y;
  const SequenceFactors<T>& f;
  Matrix<T> Q_hat, K_hat;  // Q / rho_q and sign(beta) K / rho_k: rows of norm <= 1
  // The column means of N_dS, K and X, subtracted block by block where the dS
  // products read them. dS (N - 1 m^T) = dS N because every row of dS sums to 0
  // (sum_j P_ij (dP_ij - delta_i) = delta_i - delta_i, also for the approximate P,
  // whose rows sum to 1 by D = U W^T 1); for the same reason sum_j (dS^T N')_j = 0,
  // so (dS^T N')^T (K - 1 m^T) = (dS^T N')^T K and likewise for X. Keys sharing a
  // component put it in K A_q^T, and the two terms of dS N (sum_c diag(R_c) U M_c
  // and diag(delta) U W^T N) cancel it only after the sum over keys: in float that
  // lost every digit of dB_q and dA_q on llm instances (L = 16384, d = 8, T = 3:
  // max_rel 2.9e-2 and 1.2e-2 uncentred, 1.3e-5 centred, the float64 value 1.4e-5).
  RowVector<T> N_dS_mean, K_mean, X_mean;
  const FeatureMap<T>& features;
  double nu = 0;   // max_j ||V_j||, for the error bound
  double eta = 0;  // relative error of the approximate softmax entries
  Index rows = 0;  // rows per block
  int threads = 1;
  const ExactPairs<T>* exact = nullptr;  // poly-hybrid's exact rows and columns, if any
};

// The sums of a sweep sit side by side in one matrix, so that each block of
// features is multiplied (and packed by BLAS) once per sweep: three separate
// GEMMs spent a third of poly-cheb's time packing the same features
// (L = 65536, d = 8, degree 4).
template <class T>
struct KeySums {  // sweep A: W^T [1 | N_F | N_dS | (diag(V_c) N_dS)_c]
  Matrix<T> WT_all;
  Index n_F1 = 0, n_dS = 0, n_V_dS = 0;
  // With exact pairs: E[O_q, :] [1 | N_F | ...] (|O_q| rows) and the outlier keys' rows of [1 | N_F | ...].
  Matrix<T> exact_query_products, exact_key_rows;
  KeySums(Index k, const ThinWidths& w, Index outlier_queries = 0, Index outlier_keys = 0);
  void add(const KeySums& o);
  auto WT_1_N_F() const { return WT_all.leftCols(n_F1); }         // W^T [1 | V | X B_v]   (k x (1 + d + X_Bv))
  auto WT_N_dS() const { return WT_all.middleCols(n_F1, n_dS); }  // W^T N_dS              (k x N_dS)
  auto WT_V_N_dS() const { return WT_all.rightCols(n_V_dS); }     // [W^T diag(V_c) N_dS]_c (k x d N_dS)
};

template <class T>
struct QuerySums {  // sweep B
  double loss = 0;
  bool bad_normaliser = false;        // some D_i <= 0
  Eigen::VectorXd Xz, Qz, Rs;         // column sums of the error bound (error_bound.hpp)
  Matrix<T> XT_dS_KAq;                // X^T dS K A_q^T            (d x K_Aq)
  Matrix<T> BkT_XT_dST_Q;             // (dS X B_k)^T Q            (X_Bk x d)
  Matrix<T> BvT_XT_FT_R;              // (F X B_v)^T R             (X_Bv x d)
  Matrix<T> UT_all;                   // U^T [D^-1 R A_v^T | (diag(R_c / D) N_dST)_c | diag(delta / D) N_dST]
  Index n_AvT = 0, n_R_dST = 0, n_dST = 0;
  // With exact pairs: E[:, O_k]^T [D^-1 R A_v^T | ...] (|O_k| rows) and the outlier queries' rows of it.
  Matrix<T> exact_key_products, exact_query_rows;
  QuerySums(Index k, const ThinWidths& w, Index outlier_queries = 0, Index outlier_keys = 0);
  void add(const QuerySums& o);
  auto UT_Dinv_R_AvT() const { return UT_all.leftCols(n_AvT); }               // (k x AvT)
  auto UT_R_Dinv_N_dST() const { return UT_all.middleCols(n_AvT, n_R_dST); }  // (k x d N_dST)
  auto UT_delta_Dinv_N_dST() const { return UT_all.rightCols(n_dST); }        // (k x N_dST)
};

template <class T>
struct KeyResults {  // sweep C
  Matrix<T> XT_FT_R_AvT;  // X^T F^T R A_v^T   (d x AvT)
  Matrix<T> BqT_XT_dS_K;  // (dS^T X B_q)^T K  (X_Bq x d)
  Matrix<T> XT_dST_QAk;   // X^T dS^T Q A_k^T  (d x Q_Ak)
  explicit KeyResults(const ThinWidths& w);
  void add(const KeyResults& o);
};

template <class T>
KeySums<T> key_sums(const SequenceInputs<T>& in);
template <class T>
QuerySums<T> query_sums(const SequenceInputs<T>& in, const KeySums<T>& A);
// Skipped (zero sums) when no key-side gradient is wanted (W_q alone, whole).
template <class T>
KeyResults<T> key_results(const SequenceInputs<T>& in, const QuerySums<T>& B);

}  // namespace lorafgc::lora::detail
