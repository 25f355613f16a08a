// What the schedules (panel, stream, fused) do identically with a row
// block's thin results (value_outputs: stream and fused; query_side_outputs: all three).
#include "lora/common/softmax_backward.hpp"
#include "lora/exact/row_block.hpp"

namespace lorafgc::lora::detail {

template <class T>
void value_outputs(const Matrix<T>& Y, const SequenceFactors<T>& f, RowBlock b, const Vector<T>& inv_sum,
                   const Matrix<T>& F_N_F, Matrix<T>& R, Matrix<T>& Dinv_R_AvT, Vector<T>& delta,
                   RowBlockSums<T>& sums) {
  const Index d = f.widths.d;
  R = F_N_F.leftCols(d) - Y.middleRows(b.i0, b.n);
  sums.loss += 0.5 * static_cast<double>(R.squaredNorm());
  if (f.widths.X_Bv) sums.BvT_XT_FT_R.noalias() += F_N_F.rightCols(f.widths.X_Bv).transpose() * R;
  if (f.widths.AvT) Dinv_R_AvT.noalias() = inv_sum.asDiagonal() * (R * f.AvT);
  delta = row_dot(R, F_N_F.leftCols(d));
}

template <class T>
void query_side_outputs(const Matrix<T>& X, const SequenceFactors<T>& f, RowBlock b, const Matrix<T>& dS_N_dS,
                        RowBlockSums<T>& sums) {
  const ThinWidths& w = f.widths;
  if (w.K_Aq) sums.XT_dS_KAq.noalias() += X.middleRows(b.i0, b.n).transpose() * dS_N_dS.leftCols(w.K_Aq);
  if (w.X_Bk) sums.BkT_XT_dST_Q.noalias() += dS_N_dS.rightCols(w.X_Bk).transpose() * f.Q.middleRows(b.i0, b.n);
}

#define LORAFGC_INSTANTIATE(T)                                                                                  \
  template void value_outputs(const Matrix<T>&, const SequenceFactors<T>&, RowBlock, const Vector<T>&,          \
                              const Matrix<T>&, Matrix<T>&, Matrix<T>&, Vector<T>&, RowBlockSums<T>&);          \
  template void query_side_outputs(const Matrix<T>&, const SequenceFactors<T>&, RowBlock, const Matrix<T>&,    \
                                   RowBlockSums<T>&);
LORAFGC_INSTANTIATE(float)
LORAFGC_INSTANTIATE(double)
#undef LORAFGC_INSTANTIATE

}  // namespace lorafgc::lora::detail
