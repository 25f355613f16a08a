// The fused schedule of `exact`: per row block, a forward sweep over key tiles
// (scores, exp with a running row max, [O | F X B_v]) and a backward sweep
// (scores and exp again, R V^T, dS, and every product of dS and F with the thin
// factors), each tile's work done by the kernels of fused_kernel.hpp while the
// tile is in cache. Between the sweeps and after them, the block's thin results
// go through the same code as the stream schedule's (block_outputs.cpp).
#include "lora/exact/fused_kernel.hpp"
#include "lora/exact/row_block.hpp"

#include <lorafgc/core/errors.hpp>

#include <algorithm>

namespace lorafgc::lora::detail {

namespace {

template <class T>
Matrix<T> padded(const Matrix<T>& M, Index ld) {
  Matrix<T> out = Matrix<T>::Zero(ld, M.cols());
  out.topRows(M.rows()) = M;
  return out;
}

}  // namespace

template <class T>
FusedKeys<T>::FusedKeys(const SequenceFactors<T>& f)
    : L(f.K.rows()), ld(fused_leading_dimension(f.K.rows())) {
  K = padded(f.K, ld);
  V = padded(f.V, ld);
  N_F = padded(f.N_F, ld);
  N_dS = padded(f.N_dS, ld);
}

template <class T>
void fused_rows(const Matrix<T>& X, const Matrix<T>& Y, const SequenceFactors<T>& f, const FusedKeys<T>& keys,
                T beta, RowBlock b, Index tile_cols, bool keep_exp, FusedScratch<T>& w, RowBlockSums<T>& sums) {
  const ThinWidths& wd = f.widths;
  if (w.key_sums.rows() != keys.ld) w.key_sums = Matrix<T>::Zero(keys.ld, wd.AvT + wd.N_dST());
  FusedBlock<T> k;
  k.L = keys.L;
  k.ld = keys.ld;
  k.tile = fused_tile(tile_cols, keys.L);
  k.b = b.n;
  k.d = wd.d;
  k.n_F = f.N_F.cols();
  k.n_dS = wd.N_dS();
  k.n_AvT = wd.AvT;
  k.n_dST = wd.N_dST();
  k.K = keys.K.data();
  k.V = keys.V.data();
  k.N_F = keys.N_F.data();
  k.N_dS = keys.N_dS.data();
  k.FT_R_AvT = w.key_sums.data();
  k.dST_N_dST = w.key_sums.data() + wd.AvT * keys.ld;
  k.scratch = aligned(w.buffer, w.buffer_elements, fused_scratch_elements(k));
  if (keep_exp) {
    k.E_panel = aligned(w.panel, w.panel_elements, static_cast<std::size_t>(b.n * keys.ld));
    w.tile_max.resize(b.n * ((keys.L + k.tile - 1) / k.tile));
    k.tile_max = w.tile_max.data();
  }

  w.beta_Q = beta * f.Q.middleRows(b.i0, b.n);
  w.row_max.resize(b.n);
  w.row_sum.resize(b.n);
  w.E_N_F.resize(b.n, k.n_F);
  k.beta_Q = w.beta_Q.data();
  k.row_max = w.row_max.data();
  k.row_sum = w.row_sum.data();
  k.E_N_F = w.E_N_F.data();
  fused_forward(k);

  const Vector<T> inv_sum = w.row_sum.cwiseInverse();
  w.F_N_F = inv_sum.asDiagonal() * w.E_N_F;  // [O | F X B_v]
  value_outputs(Y, f, b, inv_sum, w.F_N_F, w.R, w.Dinv_R_AvT, w.delta, sums);

  w.R_rows = w.R;
  w.Dinv_R_AvT_rows = w.Dinv_R_AvT;
  w.N_dST_rows = f.N_dST.middleRows(b.i0, b.n);
  w.dS_N_dS_rows.resize(b.n, k.n_dS);
  k.R = w.R_rows.data();
  k.delta = w.delta.data();
  k.inv_sum = inv_sum.data();
  k.Dinv_R_AvT = w.Dinv_R_AvT_rows.data();
  k.N_dST = w.N_dST_rows.data();
  k.dS_N_dS = w.dS_N_dS_rows.data();
  fused_backward(k);

  w.dS_N_dS = w.dS_N_dS_rows;
  query_side_outputs(X, f, b, w.dS_N_dS, sums);
}

template <class T>
void fused_finish(const FusedScratch<T>& w, const ThinWidths& wd, RowBlockSums<T>& sums) {
  if (w.key_sums.size() == 0) return;
  const Index L = sums.dST_N_dST.rows();
  if (wd.AvT) sums.FT_R_AvT += w.key_sums.topLeftCorner(L, wd.AvT);
  if (wd.N_dST()) sums.dST_N_dST += w.key_sums.block(0, wd.AvT, L, wd.N_dST());
}

#define LORAFGC_INSTANTIATE(T)                                                                                    \
  template struct FusedKeys<T>;                                                                                   \
  template void fused_rows(const Matrix<T>&, const Matrix<T>&, const SequenceFactors<T>&, const FusedKeys<T>&, T, \
                           RowBlock, Index, bool, FusedScratch<T>&, RowBlockSums<T>&);                            \
  template void fused_finish(const FusedScratch<T>&, const ThinWidths&, RowBlockSums<T>&);
LORAFGC_INSTANTIATE(float)
LORAFGC_INSTANTIATE(double)
#undef LORAFGC_INSTANTIATE

}  // namespace lorafgc::lora::detail

namespace lorafgc::lora {

std::string kernel_target() { return detail::fused_target_name(); }

}  // namespace lorafgc::lora
