// exact's attention on Q, K, V (lorafgc/lora/attention.hpp): the fused
// kernels of the LoRA schedule with the thin factors replaced by the plain
// operands (N_F = V, N_dS = K, A_v^T = I, N_dST = Q). Per row block of
// queries: the forward's online softmax gives O and lse; the backward
// recomputes the scores against lse (so F = exp(scale S - lse), no
// normalisation), forms dS tile by tile and accumulates dQ = scale dS K on
// the rows, dV = F^T dO and dK = scale dS^T Q on the keys. Causal: a block
// stops at its last row's key and the kernels mask the diagonal tile.
#include <lorafgc/lora/attention.hpp>

#include "lora/exact/exact.hpp"
#include "lora/exact/fused_kernel.hpp"
#include "lora/exact/row_block.hpp"

#include <omp.h>

#include <cmath>

namespace lorafgc::lora {

namespace detail {

namespace {

// One sequence in the kernels' layout and the blocking of its rows.
template <class T>
struct AttentionSequence {
  Index L = 0, d = 0, ld = 0, tile = 0, rows = 0;
  T scale = 1;
  bool causal = false;
  Matrix<T> K, V;  // ld x d, column-major, zero-padded past L

  AttentionSequence(const AttentionShape& s, const ExactConfig& c)
      : L(s.length), d(s.head_dim), ld(fused_leading_dimension(s.length)),
        tile(fused_tile(static_cast<Index>(c.tile_cols), s.length)),
        rows(std::min<Index>(static_cast<Index>(c.block_rows), s.length)), scale(static_cast<T>(s.scale)),
        causal(s.causal), K(Matrix<T>::Zero(ld, s.head_dim)), V(Matrix<T>::Zero(ld, s.head_dim)) {}

  void load(const T* k, const T* v) {
    K.topRows(L) = ConstRows<T>(k, L, d);
    V.topRows(L) = ConstRows<T>(v, L, d);
  }
  Index blocks() const { return (L + rows - 1) / rows; }
  // Causal blocks are ordered last first: the longest go out first under dynamic scheduling.
  RowBlock block(Index index) const {
    const Index blk = causal ? blocks() - 1 - index : index;
    return {blk * rows, std::min(rows, L - blk * rows)};
  }

  FusedBlock<T> kernel_block(RowBlock b) const {
    FusedBlock<T> k;
    k.L = causal ? std::min(L, b.i0 + b.n) : L;
    k.ld = ld;
    k.tile = tile;
    k.b = b.n;
    k.d = d;
    k.K = K.data();
    k.V = V.data();
    k.causal_row0 = causal ? b.i0 : -1;
    return k;
  }
};

template <class T>
struct AttentionScratch {
  RowMajor<T> scaled_q;
  Vector<T> row_max, row_sum, delta, ones;
  Matrix<T> key_sums;  // ld x 2d: [F^T dO | dS^T Q], padded
  std::unique_ptr<T[], void (*)(void*)> buffer{nullptr, std::free};
  std::size_t buffer_elements = 0;
};

template <class T>
void forward_rows(const AttentionSequence<T>& s, const T* q, T* out, T* lse, RowBlock b, AttentionScratch<T>& w) {
  FusedBlock<T> k = s.kernel_block(b);
  k.n_F = s.d;
  k.N_F = s.V.data();
  w.scaled_q = s.scale * ConstRows<T>(q + b.i0 * s.d, b.n, s.d);
  w.row_max.resize(b.n);
  w.row_sum.resize(b.n);
  k.beta_Q = w.scaled_q.data();
  k.row_max = w.row_max.data();
  k.row_sum = w.row_sum.data();
  k.E_N_F = out + b.i0 * s.d;
  k.scratch = aligned(w.buffer, w.buffer_elements, fused_scratch_elements(k));
  fused_forward(k);
  Rows<T>(out + b.i0 * s.d, b.n, s.d).array().colwise() /= w.row_sum.array();
  Eigen::Map<Vector<T>>(lse + b.i0, b.n) = w.row_max.array() + w.row_sum.array().log();
}

// Adds the block's F^T dO and dS^T Q to w.key_sums and writes its rows of dQ.
template <class T>
void backward_rows(const AttentionSequence<T>& s, const AttentionBackwardIO<T>& io, RowBlock b,
                   AttentionScratch<T>& w) {
  const Index d = s.d, at = b.i0 * d;
  FusedBlock<T> k = s.kernel_block(b);
  k.n_dS = k.n_AvT = k.n_dST = d;
  k.N_dS = s.K.data();
  k.FT_R_AvT = w.key_sums.data();
  k.dST_N_dST = w.key_sums.data() + d * s.ld;
  w.scaled_q = s.scale * ConstRows<T>(io.q + at, b.n, d);
  w.delta = (ConstRows<T>(io.d_out + at, b.n, d).array() * ConstRows<T>(io.out + at, b.n, d).array()).rowwise().sum();
  if (w.ones.size() < b.n) w.ones = Vector<T>::Ones(b.n);
  k.beta_Q = w.scaled_q.data();
  k.row_max = const_cast<T*>(io.lse + b.i0);  // read only by the backward
  k.inv_sum = w.ones.data();                  // F = exp(scale S - lse) is normalised already
  k.R = io.d_out + at;
  k.delta = w.delta.data();
  k.Dinv_R_AvT = io.d_out + at;
  k.N_dST = io.q + at;
  k.dS_N_dS = io.dq + at;
  k.scratch = aligned(w.buffer, w.buffer_elements, fused_scratch_elements(k));
  fused_backward(k);
  Rows<T>(io.dq + at, b.n, d) *= s.scale;
}

// dV and dK of one sequence from its key sums (column-major, padded).
template <class T>
void write_keys(const AttentionSequence<T>& s, const Matrix<T>& key_sums, T* dk, T* dv) {
  Rows<T>(dv, s.L, s.d) = key_sums.topLeftCorner(s.L, s.d);
  Rows<T>(dk, s.L, s.d) = s.scale * key_sums.block(0, s.d, s.L, s.d);
}

int attention_threads(const ExactConfig& c) { return c.threads > 0 ? c.threads : omp_get_max_threads(); }

}  // namespace

}  // namespace detail

template <class T>
void exact_attention_forward(const AttentionShape& shape, const AttentionForwardIO<T>& io, const ExactConfig& c) {
  using namespace detail;
  const Index n = shape.length * shape.head_dim;
  const Index rows = std::min<Index>(static_cast<Index>(c.block_rows), shape.length);
  const Index blocks = (shape.length + rows - 1) / rows;
#pragma omp parallel num_threads(attention_threads(c))
  {
    AttentionSequence<T> s(shape, c);
    AttentionScratch<T> w;
    Index loaded = -1;
#pragma omp for schedule(dynamic, 1)
    for (Index task = 0; task < shape.sequences() * blocks; ++task) {
      const Index seq = task / blocks;
      if (seq != loaded) {
        s.load(io.k + seq * n, io.v + seq * n);
        loaded = seq;
      }
      forward_rows(s, io.q + seq * n, io.out + seq * n, io.lse + seq * shape.length, s.block(task % blocks), w);
    }
  }
}

template <class T>
void exact_attention_backward(const AttentionShape& shape, const AttentionBackwardIO<T>& io, const ExactConfig& c) {
  using namespace detail;
  const Index n = shape.length * shape.head_dim;
  const int threads = attention_threads(c);
  const auto at = [&](Index seq) {
    AttentionBackwardIO<T> o = io;
    o.q += seq * n, o.k += seq * n, o.v += seq * n, o.out += seq * n, o.d_out += seq * n;
    o.lse += seq * shape.length;
    o.dq += seq * n, o.dk += seq * n, o.dv += seq * n;
    return o;
  };
  if (shape.sequences() >= threads) {
    // Whole sequences per thread: dK and dV need no reduction.
#pragma omp parallel num_threads(threads)
    {
      AttentionSequence<T> s(shape, c);
      AttentionScratch<T> w;
#pragma omp for schedule(dynamic, 1)
      for (Index seq = 0; seq < shape.sequences(); ++seq) {
        const AttentionBackwardIO<T> o = at(seq);
        s.load(o.k, o.v);
        w.key_sums.setZero(s.ld, 2 * s.d);
        for (Index blk = 0; blk < s.blocks(); ++blk) backward_rows(s, o, s.block(blk), w);
        write_keys(s, w.key_sums, o.dk, o.dv);
      }
    }
    return;
  }
  // Fewer sequences than threads: row blocks over threads, key sums reduced once per sequence.
  AttentionSequence<T> shared(shape, c);
  for (Index seq = 0; seq < shape.sequences(); ++seq) {
    const AttentionBackwardIO<T> o = at(seq);
    shared.load(o.k, o.v);
    Matrix<T> total = Matrix<T>::Zero(shared.ld, 2 * shared.d);
#pragma omp parallel num_threads(threads)
    {
      AttentionScratch<T> w;
      w.key_sums.setZero(shared.ld, 2 * shared.d);
#pragma omp for schedule(dynamic, 1)
      for (Index blk = 0; blk < shared.blocks(); ++blk) backward_rows(shared, o, shared.block(blk), w);
#pragma omp critical(lorafgc_attention_reduce)
      total += w.key_sums;
    }
    write_keys(shared, total, o.dk, o.dv);
  }
}

template void exact_attention_forward(const AttentionShape&, const AttentionForwardIO<float>&, const ExactConfig&);
template void exact_attention_forward(const AttentionShape&, const AttentionForwardIO<double>&, const ExactConfig&);
template void exact_attention_backward(const AttentionShape&, const AttentionBackwardIO<float>&, const ExactConfig&);
template void exact_attention_backward(const AttentionShape&, const AttentionBackwardIO<double>&, const ExactConfig&);

}  // namespace lorafgc::lora
