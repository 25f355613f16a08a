// The streaming schedule of `exact` (FlashAttention-2's backward pass): column
// tiles of b x c with an online softmax, then the scores recomputed tile by tile.
#include "lora/common/blas_gemm.hpp"
#include "lora/common/softmax_backward.hpp"
#include "lora/exact/row_block.hpp"

#include <limits>

namespace lorafgc::lora::detail {

namespace {

// w.E = beta Q_block K_tile^T: the scores of keys [j0, j0 + cols).
template <class T>
void tile_scores(const SequenceFactors<T>& f, T beta, RowBlock b, Index j0, Index cols, StreamScratch<T>& w) {
  w.E.resize(b.n, cols);
  gemm_nt<T>(beta, f.Q.middleRows(b.i0, b.n), f.K.middleRows(j0, cols), T(0), w.E);
}

// Forward sweep: running row max and row sum of exp(S - max), and the
// unnormalised [O | F X B_v] accumulated with rescaling.
template <class T>
void forward_sweep(const SequenceFactors<T>& f, T beta, RowBlock b, Index c, StreamScratch<T>& w) {
  const Index L = f.K.rows();
  w.row_max.setConstant(b.n, -std::numeric_limits<T>::infinity());
  w.row_sum.setZero(b.n);
  w.F_N_F.setZero(b.n, f.N_F.cols());
  for (Index j0 = 0; j0 < L; j0 += c) {
    const Index cols = std::min(c, L - j0);
    tile_scores(f, beta, b, j0, cols, w);
    w.tile_max = w.E.rowwise().maxCoeff().cwiseMax(w.row_max);
    w.rescale = (w.row_max - w.tile_max).array().exp();  // exp(-inf) = 0 on the first tile
    w.row_max = w.tile_max;
    w.E.colwise() -= w.row_max;
    w.E.array() = w.E.array().exp();
    w.row_sum = w.row_sum.cwiseProduct(w.rescale) + w.E.rowwise().sum();
    w.F_N_F = w.rescale.asDiagonal() * w.F_N_F;
    w.F_N_F.noalias() += w.E * f.N_F.middleRows(j0, cols);
  }
}

// Backward sweep: S recomputed tile by tile, dS formed and multiplied out.
template <class T>
void backward_sweep(const SequenceFactors<T>& f, T beta, RowBlock b, Index c, const Vector<T>& inv_sum,
                    StreamScratch<T>& w, RowBlockSums<T>& sums) {
  const Index L = f.K.rows();
  const ThinWidths& wd = f.widths;
  w.dS_N_dS.setZero(b.n, wd.N_dS());
  for (Index j0 = 0; j0 < L; j0 += c) {
    const Index cols = std::min(c, L - j0);
    tile_scores(f, beta, b, j0, cols, w);
    w.E.colwise() -= w.row_max;
    w.E.array() = w.E.array().exp();  // E; F = diag(inv_sum) E
    if (wd.AvT) sums.FT_R_AvT.middleRows(j0, cols).noalias() += w.E.transpose() * w.Dinv_R_AvT;
    w.dS.resize(b.n, cols);
    gemm_nt<T>(T(1), w.R, f.V.middleRows(j0, cols), T(0), w.dS);
    softmax_backward(w.E, inv_sum, w.delta, w.dS);
    if (wd.N_dS()) w.dS_N_dS.noalias() += w.dS * f.N_dS.middleRows(j0, cols);
    if (wd.N_dST())
      sums.dST_N_dST.middleRows(j0, cols).noalias() += w.dS.transpose() * f.N_dST.middleRows(b.i0, b.n);
  }
}

}  // namespace

template <class T>
void stream_rows(const Matrix<T>& X, const Matrix<T>& Y, const SequenceFactors<T>& f, T beta, RowBlock block,
                 Index tile_cols, StreamScratch<T>& w, RowBlockSums<T>& sums) {
  forward_sweep(f, beta, block, tile_cols, w);
  const Vector<T> inv_sum = w.row_sum.cwiseInverse();
  w.F_N_F = inv_sum.asDiagonal() * w.F_N_F;  // [O | F X B_v]
  value_outputs(Y, f, block, inv_sum, w.F_N_F, w.R, w.Dinv_R_AvT, w.delta, sums);
  backward_sweep(f, beta, block, tile_cols, inv_sum, w, sums);
  query_side_outputs(X, f, block, w.dS_N_dS, sums);
}

template void stream_rows(const Matrix<float>&, const Matrix<float>&, const SequenceFactors<float>&, float, RowBlock,
                          Index, StreamScratch<float>&, RowBlockSums<float>&);
template void stream_rows(const Matrix<double>&, const Matrix<double>&, const SequenceFactors<double>&, double,
                          RowBlock, Index, StreamScratch<double>&, RowBlockSums<double>&);

}  // namespace lorafgc::lora::detail
