#pragma once
// Internal to `exact`: what one row block of queries adds to the gradients
// (per thread, reduced once), and the two schedules' work on a block.
// Names: docs/lora-gradients.md, "Names in the code".
#include "lora/common/thin_factors.hpp"
#include "lora/exact/exact.hpp"

namespace lorafgc::lora::detail {

template <class T>
struct RowBlockSums {
  double loss = 0;
  Matrix<T> XT_dS_KAq;     // X^T dS K A_q^T  (d x K_Aq)
  Matrix<T> BkT_XT_dST_Q;  // (dS X B_k)^T Q  (X_Bk x d)
  Matrix<T> dST_N_dST;     // dS^T N_dST      (L x N_dST)
  Matrix<T> BvT_XT_FT_R;   // (F X B_v)^T R   (X_Bv x d)
  Matrix<T> FT_R_AvT;      // F^T R A_v^T     (L x AvT)

  RowBlockSums(const ThinWidths& w, Index L)
      : XT_dS_KAq(Matrix<T>::Zero(w.d, w.K_Aq)),
        BkT_XT_dST_Q(Matrix<T>::Zero(w.X_Bk, w.d)),
        dST_N_dST(Matrix<T>::Zero(L, w.N_dST())),
        BvT_XT_FT_R(Matrix<T>::Zero(w.X_Bv, w.d)),
        FT_R_AvT(Matrix<T>::Zero(L, w.AvT)) {}

  void add(const RowBlockSums& o) {
    loss += o.loss;
    XT_dS_KAq += o.XT_dS_KAq;
    BkT_XT_dST_Q += o.BkT_XT_dST_Q;
    dST_N_dST += o.dST_N_dST;
    BvT_XT_FT_R += o.BvT_XT_FT_R;
    FT_R_AvT += o.FT_R_AvT;
  }
};

// One row block: queries [i0, i0 + n) of sequence X.
struct RowBlock {
  Index i0 = 0, n = 0;
};

// Per-thread storage of the panel schedule, reused across blocks.
template <class T>
struct PanelScratch {
  Matrix<T> E;           // b x L: exp(S - row max), unnormalised
  Matrix<T> dS;          // b x L: R V^T, then dS
  Matrix<T> F_N_F;       // b x (d + X_Bv): [O | F X B_v]
  Matrix<T> R;           // b x d: O - Y
  Matrix<T> Dinv_R_AvT;  // b x AvT: diag(1/D) R A_v^T, so E^T times it is F^T R A_v^T
  Matrix<T> dS_N_dS;     // b x N_dS
  Vector<T> row_max, delta;
};

// Per-thread storage of the stream schedule.
template <class T>
struct StreamScratch {
  Matrix<T> E;           // b x c tile: scores, then exp(S - running max)
  Matrix<T> dS;          // b x c tile: R V^T, then dS
  Matrix<T> F_N_F;       // b x (d + X_Bv): [O | F X B_v], accumulated over tiles
  Matrix<T> R, Dinv_R_AvT, dS_N_dS;  // as in PanelScratch
  Vector<T> row_max, row_sum, tile_max, rescale, delta;
};

template <class T>
void panel_rows(const Matrix<T>& X, const Matrix<T>& Y, const SequenceFactors<T>& f, T beta, RowBlock block,
                PanelScratch<T>& scratch, RowBlockSums<T>& sums);

template <class T>
void stream_rows(const Matrix<T>& X, const Matrix<T>& Y, const SequenceFactors<T>& f, T beta, RowBlock block,
                 Index tile_cols, StreamScratch<T>& scratch, RowBlockSums<T>& sums);

}  // namespace lorafgc::lora::detail
