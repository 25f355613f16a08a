// The fused schedule's kernels (fused_kernel.hpp), compiled once per x86
// target by Highway's foreach_target and dispatched at run time. Exp is
// Highway's vectorised exp (hwy/contrib/math), about 1 ulp.
//
// Sums along the sequence are two-level: a tile's keys (a block's rows, for the
// key-side sums) in fresh registers, then that partial added to the running sum.
// Continuing the running sum in the registers summed L / lanes terms in one chain
// per lane: on an adversarial instance (d = 8, L = 2^16, T = 6, float32) the
// gradients' max_rel was 1.7e-4, against 2.4e-7 two-level (the stream schedule's
// too); it is no slower (fused / stream 0.74-0.93 before and 0.66-0.89
// after at d = 4 .. 32, L = 8192 .. 16384, Zen 5).
#include "lora/exact/fused_kernel.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lora/exact/fused_kernel.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

HWY_BEFORE_NAMESPACE();
namespace lorafgc::lora::detail {
namespace HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;
using Index = std::ptrdiff_t;
template <int G>
using Width = std::integral_constant<int, G>;

// f(Width<G>, c0) over column groups [c0, c0 + G) covering [0, n), G <= Max.
template <int Max, class F>
HWY_INLINE void for_groups(Index n, F&& f) {
  Index c = 0;
  if constexpr (Max >= 8)
    for (; c + 8 <= n; c += 8) f(Width<8>(), c);
  for (; c + 4 <= n; c += 4) f(Width<4>(), c);
  if (c + 2 <= n) {
    f(Width<2>(), c);
    c += 2;
  }
  if (c < n) f(Width<1>(), c);
}

// state[r * sstride + g * N ..] (one vector each, in memory) +=
// sum_{v < nv} x[r * xstride + v * N ..] * cols[g * ld + v * N ..] for r < R, g < G:
// per-lane partial dot products of R rows with G key-side columns; each column
// vector loaded serves R rows. The tile's sum is formed apart, then added (two-level).
template <int R, int G, class D, class T>
HWY_INLINE void accumulate_dots(D d, const T* HWY_RESTRICT x, Index xstride, const T* HWY_RESTRICT cols, Index ld,
                                Index nv, T* HWY_RESTRICT state, Index sstride) {
  const Index N = static_cast<Index>(hn::Lanes(d));
  hn::Vec<D> acc[R][G];
  for (int r = 0; r < R; ++r)
    for (int g = 0; g < G; ++g) acc[r][g] = hn::Zero(d);
  for (Index v = 0; v < nv; ++v) {
    hn::Vec<D> c[G];
    for (int g = 0; g < G; ++g) c[g] = hn::LoadU(d, cols + g * ld + v * N);
    for (int r = 0; r < R; ++r) {
      const auto xv = hn::Load(d, x + r * xstride + v * N);
      for (int g = 0; g < G; ++g) acc[r][g] = hn::MulAdd(xv, c[g], acc[r][g]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int g = 0; g < G; ++g) {
      T* const s = state + r * sstride + g * N;
      hn::Store(hn::Add(hn::Load(d, s), acc[r][g]), d, s);
    }
}

// out[g * ld + v] += sum_{i < rows} buf[i * stride + v] W[i * wstride + g]: the
// key-side products of a tile (lanes over keys), two vectors at a time so each
// broadcast of W serves two multiply-adds. The block's sum is formed apart, then
// added (two-level).
template <int G, class D, class T>
HWY_INLINE void accumulate_columns(D d, T* HWY_RESTRICT out, Index ld, const T* HWY_RESTRICT buf, Index stride,
                                   const T* HWY_RESTRICT W, Index wstride, Index rows, Index nv) {
  const Index N = static_cast<Index>(hn::Lanes(d));
  Index v = 0;
  for (; v + 2 <= nv; v += 2) {
    hn::Vec<D> a0[G], a1[G];
    for (int g = 0; g < G; ++g) a0[g] = a1[g] = hn::Zero(d);
    for (Index i = 0; i < rows; ++i) {
      const auto x0 = hn::Load(d, buf + i * stride + v * N), x1 = hn::Load(d, buf + i * stride + (v + 1) * N);
      for (int g = 0; g < G; ++g) {
        const auto w = hn::Set(d, W[i * wstride + g]);
        a0[g] = hn::MulAdd(x0, w, a0[g]);
        a1[g] = hn::MulAdd(x1, w, a1[g]);
      }
    }
    for (int g = 0; g < G; ++g) {
      T* const o = out + g * ld + v * N;
      hn::StoreU(hn::Add(hn::LoadU(d, o), a0[g]), d, o);
      hn::StoreU(hn::Add(hn::LoadU(d, o + N), a1[g]), d, o + N);
    }
  }
  if (v < nv) {
    hn::Vec<D> a0[G];
    for (int g = 0; g < G; ++g) a0[g] = hn::Zero(d);
    for (Index i = 0; i < rows; ++i) {
      const auto x0 = hn::Load(d, buf + i * stride + v * N);
      for (int g = 0; g < G; ++g) a0[g] = hn::MulAdd(x0, hn::Set(d, W[i * wstride + g]), a0[g]);
    }
    for (int g = 0; g < G; ++g) {
      T* const o = out + g * ld + v * N;
      hn::StoreU(hn::Add(hn::LoadU(d, o), a0[g]), d, o);
    }
  }
}

// The micro-kernel's shape: R query rows x U vectors of keys per step, so that
// each key vector loaded serves R rows and each broadcast U keys (R x U
// independent multiply-add chains hide the FMA latency). One row at a time
// (R = 1, U = 8) needed a load per multiply-add and was load-bound; a single
// chain ran at a quarter of the FMA rate (381 ms at L = 16384, d = 8).
// AVX2 has 16 vector registers, AVX-512 32.
constexpr int kRows = HWY_TARGET <= HWY_AVX3 ? 4 : 2;
constexpr int kChunk = HWY_TARGET <= HWY_AVX3 ? 8 : 4;  // key vectors per step of a single row
template <int R>
constexpr int kKeyVectors = R == 1 ? kChunk : 2 * kChunk / R;

// out[r][u] = sum_a rows[r * width + a] cols[a * ld + j + u N .. + N) for r < R,
// u < U: R x U vectors of scores (or of R V^T); rows row-major, width apart.
template <int R, int U, class D, class T>
HWY_INLINE void rows_times_keys(D d, const T* HWY_RESTRICT rows, const T* HWY_RESTRICT cols, Index ld, Index width,
                                Index j, hn::Vec<D> (&out)[R][U]) {
  const Index N = static_cast<Index>(hn::Lanes(d));
  for (int r = 0; r < R; ++r)
    for (int u = 0; u < U; ++u) out[r][u] = hn::Zero(d);
  for (Index a = 0; a < width; ++a) {
    const T* HWY_RESTRICT c = cols + a * ld + j;
    hn::Vec<D> k[U];
    for (int u = 0; u < U; ++u) k[u] = hn::LoadU(d, c + u * N);
    for (int r = 0; r < R; ++r) {
      const auto q = hn::Set(d, rows[r * width + a]);
      for (int u = 0; u < U; ++u) out[r][u] = hn::MulAdd(q, k[u], out[r][u]);
    }
  }
}

// One past the last key row i of the block sees under the causal mask.
template <class T>
HWY_INLINE Index causal_end(const FusedBlock<T>& k, Index i) {
  return std::min(k.L, k.causal_row0 + i + 1);
}

// x with the lanes of keys [j, j + N) at or past `end` replaced by `masked`.
template <class D>
HWY_INLINE hn::Vec<D> mask_keys(D d, hn::Vec<D> x, Index j, Index end, hn::Vec<D> masked) {
  const Index N = static_cast<Index>(hn::Lanes(d));
  if (j + N <= end) return x;
  return hn::IfThenElse(hn::FirstN(d, static_cast<size_t>(std::max<Index>(0, end - j))), x, masked);
}

// f(Width<U>, v) over vectors [v, v + U) covering [0, nv): chunks of U, then single vectors.
template <int U, class F>
HWY_INLINE void for_chunks(Index nv, F&& f) {
  Index v = 0;
  for (; v + U <= nv; v += U) f(Width<U>(), v);
  for (; v < nv; ++v) f(Width<1>(), v);
}

// f(Width<R>, i) over rows [i, i + R) covering [0, b): groups of kRows, then single rows.
template <class F>
HWY_INLINE void for_row_groups(Index b, F&& f) {
  Index i = 0;
  for (; i + kRows <= b; i += kRows) f(Width<kRows>(), i);
  for (; i < b; ++i) f(Width<1>(), i);
}

// Column groups of the accumulate_dots calls for R rows: R x G accumulators
// and G column vectors must fit in the registers.
template <int R>
constexpr int kGroups = R == 1 && HWY_TARGET <= HWY_AVX3 ? 8 : 4;

// kCausal: each row also masks the keys past it (FusedBlock::causal_row0). A
// separate instantiation: a per-row test in every tile cost the unmasked
// kernel 4-13% at L = 2048-4096 (paired A/B, Zen 5).
template <bool kCausal, class T>
void forward(const FusedBlock<T>& k) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const Index N = static_cast<Index>(hn::Lanes(d));
  T* const state = k.scratch;                    // b x n_F vectors: sum_j E_ij N_F[j, c], per lane
  T* const lane_sums = state + k.b * k.n_F * N;  // b vectors: sum_j E_ij, per lane
  T* const tile_e = lane_sums + k.b * N;         // kRows tiles of E, unless E_panel keeps them
  std::fill(state, tile_e, T(0));
  const T neg_inf = -std::numeric_limits<T>::infinity();
  std::fill(k.row_max, k.row_max + k.b, neg_inf);
  const Index tiles = (k.L + k.tile - 1) / k.tile;
  const Index e_stride = k.E_panel ? k.ld : k.tile;
  for (Index j0 = 0; j0 < k.L; j0 += k.tile) {
    const Index nv = (std::min(k.tile, k.L - j0) + N - 1) / N;
    const Index last = j0 + (nv - 1) * N;  // masked when it runs past L
    const auto valid = hn::FirstN(d, static_cast<size_t>(k.L - last));
    const Index t = j0 / k.tile;
    for_row_groups(k.b, [&](auto rows, Index i0) {
      constexpr int R = decltype(rows)::value;
      T* const e = k.E_panel ? k.E_panel + i0 * k.ld + j0 : tile_e;  // row r at e + r * e_stride
      V vmax[R];
      Index end[R];  // causal: one past the last key of each row
      for (int r = 0; r < R; ++r) {
        vmax[r] = hn::Set(d, neg_inf);
        if constexpr (kCausal) end[r] = causal_end(k, i0 + r);
      }
      for_chunks<kKeyVectors<R>>(nv, [&](auto U, Index v0) {
        constexpr int kU = decltype(U)::value;
        V sv[R][kU];
        rows_times_keys<R, kU>(d, k.beta_Q + i0 * k.d, k.K, k.ld, k.d, j0 + v0 * N, sv);
        for (int r = 0; r < R; ++r)
          for (int u = 0; u < kU; ++u) {
            if constexpr (kCausal)
              sv[r][u] = mask_keys(d, sv[r][u], j0 + (v0 + u) * N, end[r], hn::Set(d, neg_inf));
            else if (j0 + (v0 + u) * N == last)
              sv[r][u] = hn::IfThenElse(valid, sv[r][u], hn::Set(d, neg_inf));
            hn::Store(sv[r][u], d, e + r * e_stride + (v0 + u) * N);
            vmax[r] = hn::Max(vmax[r], sv[r][u]);
          }
      });
      for (int r = 0; r < R; ++r) {
        const Index i = i0 + r;
        T* const row_state = state + i * k.n_F * N;
        T* const er = e + r * e_stride;
        // The row's running max: when a tile raises it, what was summed so far is
        // rescaled (rare after the first tiles).
        const T tile_max = hn::GetLane(hn::MaxOfLanes(d, vmax[r]));
        if (tile_max > k.row_max[i]) {
          if (k.row_max[i] != neg_inf) {
            const auto scale = hn::Set(d, static_cast<T>(std::exp(k.row_max[i] - tile_max)));
            for (Index c = 0; c < k.n_F; ++c)
              hn::Store(hn::Mul(hn::Load(d, row_state + c * N), scale), d, row_state + c * N);
            hn::Store(hn::Mul(hn::Load(d, lane_sums + i * N), scale), d, lane_sums + i * N);
          }
          k.row_max[i] = tile_max;
        }
        const auto m = hn::Set(d, k.row_max[i]);
        auto sum = hn::Zero(d);  // the tile's, then added (two-level)
        for (Index v = 0; v < nv; ++v) {
          auto ev = hn::Exp(d, hn::Sub(hn::Load(d, er + v * N), m));
          if constexpr (kCausal)
            ev = mask_keys(d, ev, j0 + v * N, end[r], hn::Zero(d));
          else if (j0 + v * N == last)
            ev = hn::IfThenElseZero(valid, ev);
          hn::Store(ev, d, er + v * N);
          sum = hn::Add(sum, ev);
        }
        hn::Store(hn::Add(hn::Load(d, lane_sums + i * N), sum), d, lane_sums + i * N);
        if (k.E_panel) k.tile_max[i * tiles + t] = k.row_max[i];
      }
      for_groups<kGroups<R>>(k.n_F, [&](auto G, Index c0) {
        accumulate_dots<R, decltype(G)::value>(d, e, e_stride, k.N_F + c0 * k.ld + j0, k.ld, nv,
                                               state + (i0 * k.n_F + c0) * N, k.n_F * N);
      });
    });
  }
  for (Index i = 0; i < k.b; ++i) {
    k.row_sum[i] = hn::GetLane(hn::SumOfLanes(d, hn::Load(d, lane_sums + i * N)));
    for (Index c = 0; c < k.n_F; ++c)
      k.E_N_F[i * k.n_F + c] = hn::GetLane(hn::SumOfLanes(d, hn::Load(d, state + (i * k.n_F + c) * N)));
  }
}

// Columns per accumulate_columns pass: each pass re-reads the tile's E (or dS)
// rows of all b queries (64 KB at b = 64 and 256 keys, more than L1 holds); 8
// columns (16 accumulators, AVX-512 only) read them once at r = 8. 4 -> 8 took
// 0.988x the time at L = 4096, d = 8, 16, 32 (median of 101 paired calls).
constexpr int kColumnGroups = HWY_TARGET <= HWY_AVX3 ? 8 : 4;

// out[t] = exp(x[t] - m) for t < n.
template <class D, class T>
HWY_INLINE void exp_shifted(D d, const T* HWY_RESTRICT x, Index n, T m, T* HWY_RESTRICT out) {
  const Index N = static_cast<Index>(hn::Lanes(d));
  Index t = 0;
  for (; t + N <= n; t += N) hn::StoreU(hn::Exp(d, hn::Sub(hn::LoadU(d, x + t), hn::Set(d, m))), d, out + t);
  for (; t < n; ++t) out[t] = static_cast<T>(std::exp(x[t] - m));  // Highway 1.0 has no partial load
}

// Key vectors per step of the backward, which keeps two R x U blocks (E and R V^T) live.
template <int R>
constexpr int kBackwardKeyVectors = R == 1 ? kChunk : kChunk / R;

template <bool kCausal, class T>
void backward(const FusedBlock<T>& k) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const Index N = static_cast<Index>(hn::Lanes(d));
  T* const state = k.scratch;             // b x n_dS vectors: sum_j dS_ij N_dS[j, c], per lane
  T* const F = state + k.b * k.n_dS * N;  // b x tile: E = exp(S - m) of the tile (F = diag(1/D) E), if recomputed
  T* const dS = F + k.b * k.tile;         // b x tile: dS of the tile
  // With E kept, F^T (D^-1 R A_v^T) reads the kept panel itself: its tile is
  // relative to the running max m_t then, so the row weights take the rescale
  // exp(m_t - m) instead (b x n_AvT per tile, not a multiply and a store per key).
  T* const kept_weights = dS + k.b * k.tile;
  std::fill(state, F, T(0));
  const Index tiles = (k.L + k.tile - 1) / k.tile;
  // The rescales exp(m_t - m) of the kept tiles, all at once: one scalar exp
  // per row and tile took 2% of the time at L = 16384, d = 16.
  T* const rescales = kept_weights + k.b * k.n_AvT;
  if (k.E_panel)
    for (Index i = 0; i < k.b; ++i) exp_shifted(d, k.tile_max + i * tiles, tiles, k.row_max[i], rescales + i * tiles);
  for (Index j0 = 0; j0 < k.L; j0 += k.tile) {
    const Index nv = (std::min(k.tile, k.L - j0) + N - 1) / N;
    const Index last = j0 + (nv - 1) * N;
    const auto valid = hn::FirstN(d, static_cast<size_t>(k.L - last));
    for_row_groups(k.b, [&](auto rows, Index i0) {
      constexpr int R = decltype(rows)::value;
      Index end[R];
      if constexpr (kCausal)
        for (int r = 0; r < R; ++r) end[r] = causal_end(k, i0 + r);
      // The forward's E of this tile, relative to its running max then.
      const T* const kept = k.E_panel ? k.E_panel + i0 * k.ld + j0 : nullptr;
      T scale[R];  // dS = E o (R V^T - delta) x scale: 1 / D, and the rescale of a kept tile
      for (int r = 0; r < R; ++r) {
        const Index i = i0 + r;
        const T rescale = kept ? rescales[i * tiles + j0 / k.tile] : T(1);
        scale[r] = rescale * k.inv_sum[i];
        if (kept)
          for (Index c = 0; c < k.n_AvT; ++c) kept_weights[i * k.n_AvT + c] = k.Dinv_R_AvT[i * k.n_AvT + c] * rescale;
      }
      for_chunks<kBackwardKeyVectors<R>>(nv, [&](auto U, Index v0) {
        constexpr int kU = decltype(U)::value;
        V e[R][kU], g[R][kU];
        if (kept) {
          for (int r = 0; r < R; ++r)
            for (int u = 0; u < kU; ++u) e[r][u] = hn::Load(d, kept + r * k.ld + (v0 + u) * N);
        } else {
          rows_times_keys<R, kU>(d, k.beta_Q + i0 * k.d, k.K, k.ld, k.d, j0 + v0 * N, e);
          for (int r = 0; r < R; ++r)
            for (int u = 0; u < kU; ++u) e[r][u] = hn::Exp(d, hn::Sub(e[r][u], hn::Set(d, k.row_max[i0 + r])));
        }
        rows_times_keys<R, kU>(d, k.R + i0 * k.d, k.V, k.ld, k.d, j0 + v0 * N, g);
        for (int r = 0; r < R; ++r)
          for (int u = 0; u < kU; ++u) {
            g[r][u] = hn::Mul(hn::Mul(e[r][u], hn::Set(d, scale[r])), hn::Sub(g[r][u], hn::Set(d, k.delta[i0 + r])));
            if constexpr (kCausal) {
              e[r][u] = mask_keys(d, e[r][u], j0 + (v0 + u) * N, end[r], hn::Zero(d));
              g[r][u] = mask_keys(d, g[r][u], j0 + (v0 + u) * N, end[r], hn::Zero(d));
            } else if (j0 + (v0 + u) * N == last) {
              e[r][u] = hn::IfThenElseZero(valid, e[r][u]);
              g[r][u] = hn::IfThenElseZero(valid, g[r][u]);
            }
            if (!kept) hn::Store(e[r][u], d, F + (i0 + r) * k.tile + (v0 + u) * N);
            hn::Store(g[r][u], d, dS + (i0 + r) * k.tile + (v0 + u) * N);
          }
      });
      for_groups<kGroups<R>>(k.n_dS, [&](auto G, Index c0) {
        accumulate_dots<R, decltype(G)::value>(d, dS + i0 * k.tile, k.tile, k.N_dS + c0 * k.ld + j0, k.ld, nv,
                                               state + (i0 * k.n_dS + c0) * N, k.n_dS * N);
      });
    });
    const bool kept = k.E_panel != nullptr;
    const T* const E = kept ? k.E_panel + j0 : F;
    const T* const weights = kept ? kept_weights : k.Dinv_R_AvT;
    for_groups<kColumnGroups>(k.n_AvT, [&](auto G, Index c0) {
      accumulate_columns<decltype(G)::value>(d, k.FT_R_AvT + c0 * k.ld + j0, k.ld, E, kept ? k.ld : k.tile,
                                             weights + c0, k.n_AvT, k.b, nv);
    });
    for_groups<kColumnGroups>(k.n_dST, [&](auto G, Index c0) {
      accumulate_columns<decltype(G)::value>(d, k.dST_N_dST + c0 * k.ld + j0, k.ld, dS, k.tile, k.N_dST + c0,
                                             k.n_dST, k.b, nv);
    });
  }
  for (Index i = 0; i < k.b; ++i)
    for (Index c = 0; c < k.n_dS; ++c)
      k.dS_N_dS[i * k.n_dS + c] = hn::GetLane(hn::SumOfLanes(d, hn::Load(d, state + (i * k.n_dS + c) * N)));
}

template <class T>
void forward_any(const FusedBlock<T>& k) {
  k.causal_row0 < 0 ? forward<false>(k) : forward<true>(k);
}
template <class T>
void backward_any(const FusedBlock<T>& k) {
  k.causal_row0 < 0 ? backward<false>(k) : backward<true>(k);
}

void forward_float(const FusedBlock<float>& k) { forward_any(k); }
void forward_double(const FusedBlock<double>& k) { forward_any(k); }
void backward_float(const FusedBlock<float>& k) { backward_any(k); }
void backward_double(const FusedBlock<double>& k) { backward_any(k); }
const char* target_name() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace lorafgc::lora::detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lorafgc::lora::detail {

HWY_EXPORT(forward_float);
HWY_EXPORT(forward_double);
HWY_EXPORT(backward_float);
HWY_EXPORT(backward_double);
HWY_EXPORT(target_name);

void fused_forward(const FusedBlock<float>& k) { HWY_DYNAMIC_DISPATCH(forward_float)(k); }
void fused_forward(const FusedBlock<double>& k) { HWY_DYNAMIC_DISPATCH(forward_double)(k); }
void fused_backward(const FusedBlock<float>& k) { HWY_DYNAMIC_DISPATCH(backward_float)(k); }
void fused_backward(const FusedBlock<double>& k) { HWY_DYNAMIC_DISPATCH(backward_double)(k); }
const char* fused_target_name() { return HWY_DYNAMIC_DISPATCH(target_name)(); }

std::int64_t fused_supported_targets() { return hwy::SupportedTargets() & HWY_TARGETS; }

void fused_force_targets(std::int64_t targets) { hwy::SetSupportedTargetsForTest(targets); }

// Enough for either pass, with the widest vector any target has.
template <class T>
std::size_t fused_scratch_elements(const FusedBlock<T>& k) {
  const std::size_t N = 64 / sizeof(T), b = static_cast<std::size_t>(k.b), tile = static_cast<std::size_t>(k.tile);
  const std::size_t forward = b * static_cast<std::size_t>(k.n_F) * N + b * N + 4 * tile;  // kRows <= 4
  const std::size_t tiles = static_cast<std::size_t>((k.L + k.tile - 1) / k.tile);
  const std::size_t backward =
      b * static_cast<std::size_t>(k.n_dS) * N + 2 * b * tile + b * static_cast<std::size_t>(k.n_AvT) + b * tiles;
  return std::max(forward, backward);
}

template std::size_t fused_scratch_elements(const FusedBlock<float>&);
template std::size_t fused_scratch_elements(const FusedBlock<double>&);

}  // namespace lorafgc::lora::detail
#endif
