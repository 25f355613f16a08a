#pragma once
// Internal to `exact`: the per-sequence thin factors both schedules multiply the
// L x L blocks with, and the per-thread accumulators they fill.
#include "lora/exact/exact.hpp"

#include <algorithm>

namespace lorafgc::detail {

using Index = Eigen::Index;

// Chosen so that the L x L blocks only meet products of width r (adapter
// gradients) or d (S, O, R V^T); see shared/design/lora-gradients.md,
// "contract with the thin factor before touching the L x L matrix". With
// `weights` the contraction is with the identity instead, giving whole d x d
// gradients from which dB and dA follow in O(d^2 r).
template <class T>
struct SequenceFactors {
  Matrix<T> Q, K, V;
  Matrix<T> ds_right;  // [K A_q^T | X B_k]      : dS  * this, k = L
  Matrix<T> ds_left;   // [X B_q  | Q A_k^T]     : dS^T * this, accumulated
  Matrix<T> f_right;   // [V | X B_v]            : F * this, k = L
  Matrix<T> r_coef;    // A_v^T                  : F^T (R * this), accumulated
  Index mq = 0, rk = 0, rq = 0, mk = 0, rv = 0, mv = 0;  // column-group widths
};

template <class T>
SequenceFactors<T> make_factors(const Problem<T>& p, const Matrix<T>& X, const std::array<Matrix<T>, 3>& Weff,
                                bool weights);

template <class T>
struct Accumulators {
  double loss = 0;
  Matrix<T> Pq;   // X^T dS K A_q^T          (d x mq)
  Matrix<T> Lk;   // (dS X B_k)^T Q          (rk x d)
  Matrix<T> Gds;  // dS^T [X B_q | Q A_k^T]  (L x (rq + mk))
  Matrix<T> Lv;   // (F X B_v)^T R           (rv x d)
  Matrix<T> Gf;   // F^T R A_v^T             (L x mv)

  Accumulators(const SequenceFactors<T>& f, Index L, Index d)
      : Pq(Matrix<T>::Zero(d, f.mq)),
        Lk(Matrix<T>::Zero(f.rk, d)),
        Gds(Matrix<T>::Zero(L, f.rq + f.mk)),
        Lv(Matrix<T>::Zero(f.rv, d)),
        Gf(Matrix<T>::Zero(L, f.mv)) {}

  void add(const Accumulators& o) {
    loss += o.loss;
    Pq += o.Pq;
    Lk += o.Lk;
    Gds += o.Gds;
    Lv += o.Lv;
    Gf += o.Gf;
  }
};

// One schedule's work on query rows [i0, i0 + n) of sequence X, into `acc`.
// Scratch lives in the schedule's own per-thread state.
template <class T>
struct PanelScratch;
template <class T>
void panel_rows(const Matrix<T>& X, const Matrix<T>& Y, const SequenceFactors<T>& f, T beta, Index i0, Index n,
                PanelScratch<T>& scratch, Accumulators<T>& acc);

template <class T>
struct StreamScratch;
template <class T>
void stream_rows(const Matrix<T>& X, const Matrix<T>& Y, const SequenceFactors<T>& f, T beta, Index i0, Index n,
                 Index tile_cols, StreamScratch<T>& scratch, Accumulators<T>& acc);

template <class T>
struct PanelScratch {
  Matrix<T> P, G, T2, R, RC, T1;
  Vector<T> rowv;
};

template <class T>
struct StreamScratch {
  Matrix<T> St, G, acc_out, R, RC, T1;
  Vector<T> m, l, tile_max, rescale, delta;
};

}  // namespace lorafgc::detail
