// The panel schedule of `exact`: a row block's whole b x L panel is kept.
#include "lora/common/blas_gemm.hpp"
#include "lora/common/softmax_backward.hpp"
#include "lora/exact/row_block.hpp"

namespace lorafgc::lora::detail {

namespace {

// E = exp(S - row max) for the block, S = beta Q_block K^T; returns 1 / row sums.
// Subtracting the row maximum keeps scores of 1e4 finite.
template <class T>
Vector<T> exponentials(const SequenceFactors<T>& f, T beta, RowBlock b, PanelScratch<T>& w) {
  w.E.resize(b.n, f.K.rows());
  gemm_nt<T>(beta, f.Q.middleRows(b.i0, b.n), f.K, T(0), w.E);
  w.row_max = w.E.rowwise().maxCoeff();
  w.E.colwise() -= w.row_max;
  w.E.array() = w.E.array().exp();  // plain array: Eigen vectorises exp here, not on a broadcast
  return w.E.rowwise().sum().cwiseInverse();
}

// O, R, the loss and the value-side sums. The row scale 1/D is applied to the
// thin results instead of the panel, saving a pass over it.
template <class T>
void value_side(const Matrix<T>& Y, const SequenceFactors<T>& f, RowBlock b, const Vector<T>& inv_sum,
                PanelScratch<T>& w, RowBlockSums<T>& sums) {
  const Index d = f.widths.d;
  w.F_N_F.noalias() = w.E * f.N_F;
  w.F_N_F = inv_sum.asDiagonal() * w.F_N_F;
  w.R = w.F_N_F.leftCols(d) - Y.middleRows(b.i0, b.n);
  sums.loss += 0.5 * static_cast<double>(w.R.squaredNorm());
  if (f.widths.X_Bv) sums.BvT_XT_FT_R.noalias() += w.F_N_F.rightCols(f.widths.X_Bv).transpose() * w.R;
  if (f.widths.AvT) {
    w.Dinv_R_AvT.noalias() = inv_sum.asDiagonal() * (w.R * f.AvT);
    sums.FT_R_AvT.noalias() += w.E.transpose() * w.Dinv_R_AvT;
  }
}

// dS for the block, then its products with the thin factors.
template <class T>
void score_side(const Matrix<T>& X, const SequenceFactors<T>& f, RowBlock b, const Vector<T>& inv_sum,
                PanelScratch<T>& w, RowBlockSums<T>& sums) {
  const ThinWidths& wd = f.widths;
  w.delta = row_dot(w.R, w.F_N_F.leftCols(wd.d));
  w.dS.resize(b.n, f.V.rows());
  gemm_nt<T>(T(1), w.R, f.V, T(0), w.dS);
  softmax_backward(w.E, inv_sum, w.delta, w.dS);
  if (wd.N_dS()) {
    w.dS_N_dS.noalias() = w.dS * f.N_dS;
    query_side_outputs(X, f, b, w.dS_N_dS, sums);
  }
  if (wd.N_dST()) sums.dST_N_dST.noalias() += w.dS.transpose() * f.N_dST.middleRows(b.i0, b.n);
}

}  // namespace

template <class T>
void panel_rows(const Matrix<T>& X, const Matrix<T>& Y, const SequenceFactors<T>& f, T beta, RowBlock block,
                PanelScratch<T>& scratch, RowBlockSums<T>& sums) {
  const Vector<T> inv_sum = exponentials(f, beta, block, scratch);
  value_side(Y, f, block, inv_sum, scratch, sums);
  score_side(X, f, block, inv_sum, scratch, sums);
}

template void panel_rows(const Matrix<float>&, const Matrix<float>&, const SequenceFactors<float>&, float, RowBlock,
                         PanelScratch<float>&, RowBlockSums<float>&);
template void panel_rows(const Matrix<double>&, const Matrix<double>&, const SequenceFactors<double>&, double,
                         RowBlock, PanelScratch<double>&, RowBlockSums<double>&);

}  // namespace lorafgc::lora::detail
