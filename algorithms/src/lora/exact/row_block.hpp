#pragma once
// Internal to `exact`: what one row block of queries adds to the gradients
// (per thread, reduced once), and the two schedules' work on a block.
// Names: docs/lora-gradients.md, "Names in the code".
#include "lora/common/row_major.hpp"
#include "lora/common/thin_factors.hpp"
#include "lora/exact/exact.hpp"

#include <cstdlib>
#include <memory>

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

// The fused schedule's copies of one sequence's key-side factors, shared by
// all threads: column-major, zero-padded to ld rows (fused_kernel.hpp).
template <class T>
struct FusedKeys {
  Index L = 0, ld = 0;
  Matrix<T> K, V, N_F, N_dS;
  explicit FusedKeys(const SequenceFactors<T>& f);
};

// Per-thread storage of the fused schedule.
template <class T>
struct FusedScratch {
  Matrix<T> key_sums;                  // ld x (AvT + N_dST): [F^T R A_v^T | dS^T N_dST], padded
  RowMajor<T> beta_Q, R_rows, Dinv_R_AvT_rows, N_dST_rows, E_N_F, dS_N_dS_rows;
  Matrix<T> F_N_F, R, Dinv_R_AvT, dS_N_dS;  // column-major, for value_outputs and query_side_outputs
  Vector<T> row_max, row_sum, delta;
  std::unique_ptr<T[], void (*)(void*)> buffer{nullptr, std::free};  // the kernels' scratch, 64-byte aligned
  std::size_t buffer_elements = 0;
  std::unique_ptr<T[], void (*)(void*)> panel{nullptr, std::free};   // E of the block (b x ld), when kept
  std::size_t panel_elements = 0;
  Vector<T> tile_max;
};

// Shared by the streaming schedules, from a block's normalised [O | F X B_v]
// (in F_N_F): R = O - Y, the loss, (F X B_v)^T R, diag(1/D) R A_v^T and
// delta_i = <R_i, O_i>.
template <class T>
void value_outputs(const Matrix<T>& Y, const SequenceFactors<T>& f, RowBlock b, const Vector<T>& inv_sum,
                   const Matrix<T>& F_N_F, Matrix<T>& R, Matrix<T>& Dinv_R_AvT, Vector<T>& delta,
                   RowBlockSums<T>& sums);
// From a block's dS N_dS: X^T dS K A_q^T and (dS X B_k)^T Q.
template <class T>
void query_side_outputs(const Matrix<T>& X, const SequenceFactors<T>& f, RowBlock b, const Matrix<T>& dS_N_dS,
                        RowBlockSums<T>& sums);

template <class T>
void panel_rows(const Matrix<T>& X, const Matrix<T>& Y, const SequenceFactors<T>& f, T beta, RowBlock block,
                PanelScratch<T>& scratch, RowBlockSums<T>& sums);

// keep_exp: the forward's E of the block is kept (b x ld per thread) for the
// backward, instead of recomputing scores and exp.
template <class T>
void fused_rows(const Matrix<T>& X, const Matrix<T>& Y, const SequenceFactors<T>& f, const FusedKeys<T>& keys,
                T beta, RowBlock block, Index tile_cols, bool keep_exp, FusedScratch<T>& scratch,
                RowBlockSums<T>& sums);
// Adds a thread's padded key-side sums into its RowBlockSums.
template <class T>
void fused_finish(const FusedScratch<T>& scratch, const ThinWidths& widths, RowBlockSums<T>& sums);

template <class T>
void stream_rows(const Matrix<T>& X, const Matrix<T>& Y, const SequenceFactors<T>& f, T beta, RowBlock block,
                 Index tile_cols, StreamScratch<T>& scratch, RowBlockSums<T>& sums);

}  // namespace lorafgc::lora::detail
