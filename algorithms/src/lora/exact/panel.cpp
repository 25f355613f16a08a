// The panel schedule of `exact`: a row block's whole b x L panel is kept.
#include "lora/common/blas_gemm.hpp"
#include "lora/common/thin_factors.hpp"

namespace lorafgc::detail {

// The panel P holds E = exp(S - rowmax) unnormalised; the row scale 1/sum is
// applied to the thin results instead (O, R A_v^T, dS), saving a pass over P.
template <class T>
void panel_rows(const Matrix<T>& X, const Matrix<T>& Y, const SequenceFactors<T>& f, T beta, Index i0, Index n,
                PanelScratch<T>& w, Accumulators<T>& acc) {
  const Index d = X.cols(), L = X.rows();
  Matrix<T>& P = w.P;
  P.resize(n, L);
  gemm_nt<T>(beta, f.Q.middleRows(i0, n), f.K, T(0), P);
  // Softmax with the row maximum subtracted: scores of 1e4 stay finite.
  w.rowv = P.rowwise().maxCoeff();
  P.colwise() -= w.rowv;
  P.array() = P.array().exp();  // plain array: Eigen vectorises exp here, not on a broadcast
  const Vector<T> inv_sum = P.rowwise().sum().cwiseInverse();

  w.T2.noalias() = P * f.f_right;  // [O | F X B_v], still unnormalised
  w.T2 = inv_sum.asDiagonal() * w.T2;
  w.R = w.T2.leftCols(d) - Y.middleRows(i0, n);
  acc.loss += 0.5 * static_cast<double>(w.R.squaredNorm());
  if (f.rv) acc.Lv.noalias() += w.T2.rightCols(f.rv).transpose() * w.R;
  if (f.mv) {
    w.RC.noalias() = inv_sum.asDiagonal() * (w.R * f.r_coef);
    acc.Gf.noalias() += P.transpose() * w.RC;
  }
  // delta_i = <R_i, O_i> = sum_j F_ij (R V^T)_ij, then dS = F o (R V^T - delta 1^T).
  w.rowv = (w.R.array() * w.T2.leftCols(d).array()).rowwise().sum();
  Matrix<T>& G = w.G;
  G.resize(n, L);
  gemm_nt<T>(T(1), w.R, f.V, T(0), G);
  G = ((P.array() * (G.array().colwise() - w.rowv.array())).colwise() * inv_sum.array()).matrix();

  if (f.mq + f.rk) {
    w.T1.noalias() = G * f.ds_right;
    if (f.mq) acc.Pq.noalias() += X.middleRows(i0, n).transpose() * w.T1.leftCols(f.mq);
    if (f.rk) acc.Lk.noalias() += w.T1.rightCols(f.rk).transpose() * f.Q.middleRows(i0, n);
  }
  if (f.rq + f.mk) acc.Gds.noalias() += G.transpose() * f.ds_left.middleRows(i0, n);
}

template void panel_rows(const Matrix<float>&, const Matrix<float>&, const SequenceFactors<float>&, float, Index,
                         Index, PanelScratch<float>&, Accumulators<float>&);
template void panel_rows(const Matrix<double>&, const Matrix<double>&, const SequenceFactors<double>&, double,
                         Index, Index, PanelScratch<double>&, Accumulators<double>&);

}  // namespace lorafgc::detail
