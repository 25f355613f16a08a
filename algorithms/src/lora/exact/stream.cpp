// The streaming schedule of `exact` (FlashAttention-2's backward pass): column
// tiles of b x c with an online softmax, then the scores recomputed tile by tile.
#include "lora/common/blas_gemm.hpp"
#include "lora/common/thin_factors.hpp"

#include <limits>

namespace lorafgc::detail {

namespace {

// Forward sweep: running row max m and row sum l of exp(S - m), and the
// unnormalised [O | F X B_v] accumulated in w.acc_out with rescaling.
template <class T>
void forward_sweep(const SequenceFactors<T>& f, T beta, Index i0, Index n, Index c, StreamScratch<T>& w) {
  const Index L = f.K.rows();
  w.m.setConstant(n, -std::numeric_limits<T>::infinity());
  w.l.setZero(n);
  w.acc_out.setZero(n, f.f_right.cols());
  for (Index j0 = 0; j0 < L; j0 += c) {
    const Index cols = std::min(c, L - j0);
    w.St.resize(n, cols);
    gemm_nt<T>(beta, f.Q.middleRows(i0, n), f.K.middleRows(j0, cols), T(0), w.St);
    w.tile_max = w.St.rowwise().maxCoeff().cwiseMax(w.m);
    w.rescale = (w.m - w.tile_max).array().exp();  // exp(-inf) = 0 on the first tile
    w.m = w.tile_max;
    w.St.colwise() -= w.m;
    w.St.array() = w.St.array().exp();
    w.l = w.l.cwiseProduct(w.rescale) + w.St.rowwise().sum();
    w.acc_out = w.rescale.asDiagonal() * w.acc_out;
    w.acc_out.noalias() += w.St * f.f_right.middleRows(j0, cols);
  }
}

}  // namespace

template <class T>
void stream_rows(const Matrix<T>& X, const Matrix<T>& Y, const SequenceFactors<T>& f, T beta, Index i0, Index n,
                 Index c, StreamScratch<T>& w, Accumulators<T>& acc) {
  const Index d = X.cols(), L = X.rows();
  forward_sweep(f, beta, i0, n, c, w);
  const Vector<T> inv_sum = w.l.cwiseInverse();
  w.acc_out = inv_sum.asDiagonal() * w.acc_out;  // [O | F X B_v]
  w.R = w.acc_out.leftCols(d) - Y.middleRows(i0, n);
  acc.loss += 0.5 * static_cast<double>(w.R.squaredNorm());
  if (f.rv) acc.Lv.noalias() += w.acc_out.rightCols(f.rv).transpose() * w.R;
  if (f.mv) w.RC.noalias() = inv_sum.asDiagonal() * (w.R * f.r_coef);
  w.delta = (w.R.array() * w.acc_out.leftCols(d).array()).rowwise().sum();

  w.T1.setZero(n, f.mq + f.rk);
  for (Index j0 = 0; j0 < L; j0 += c) {
    const Index cols = std::min(c, L - j0);
    w.St.resize(n, cols);
    gemm_nt<T>(beta, f.Q.middleRows(i0, n), f.K.middleRows(j0, cols), T(0), w.St);
    w.St.colwise() -= w.m;
    w.St.array() = w.St.array().exp();  // E; F = diag(inv_sum) E
    if (f.mv) acc.Gf.middleRows(j0, cols).noalias() += w.St.transpose() * w.RC;
    w.G.resize(n, cols);
    gemm_nt<T>(T(1), w.R, f.V.middleRows(j0, cols), T(0), w.G);
    w.G = ((w.St.array() * (w.G.array().colwise() - w.delta.array())).colwise() * inv_sum.array()).matrix();
    if (f.mq + f.rk) w.T1.noalias() += w.G * f.ds_right.middleRows(j0, cols);
    if (f.rq + f.mk) acc.Gds.middleRows(j0, cols).noalias() += w.G.transpose() * f.ds_left.middleRows(i0, n);
  }
  if (f.mq) acc.Pq.noalias() += X.middleRows(i0, n).transpose() * w.T1.leftCols(f.mq);
  if (f.rk) acc.Lk.noalias() += w.T1.rightCols(f.rk).transpose() * f.Q.middleRows(i0, n);
}

template void stream_rows(const Matrix<float>&, const Matrix<float>&, const SequenceFactors<float>&, float, Index,
                          Index, Index, StreamScratch<float>&, Accumulators<float>&);
template void stream_rows(const Matrix<double>&, const Matrix<double>&, const SequenceFactors<double>&, double,
                          Index, Index, Index, StreamScratch<double>&, Accumulators<double>&);

}  // namespace lorafgc::detail
