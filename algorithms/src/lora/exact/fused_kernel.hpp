#pragma once
// Internal to `exact`: the fused schedule's kernels (fused_kernel.cpp), one row
// block of queries against all keys in key tiles, with scores, exp and every
// product of a tile done while the tile is in cache; no b x L panel is written.
// Vectors run over keys. Compiled for every x86 target Highway knows and chosen
// at run time (HWY_DYNAMIC_DISPATCH), independent of the -march the rest of the
// library is built with.
//
// Key-side arrays are column-major with leading dimension ld >= L, padded with
// zeros to a multiple of kFusedPadding keys so that whole vectors can be
// loaded; the kernels mask the lanes past L. Row-side arrays are row-major.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

namespace lorafgc::lora::detail {

constexpr std::ptrdiff_t kFusedPadding = 64;  // >= the widest vector of any target, in lanes

template <class T>
struct FusedBlock {
  using Index = std::ptrdiff_t;
  Index L = 0, ld = 0, tile = 256;  // keys, leading dimension, keys per tile (multiple of kFusedPadding)
  Index b = 0, d = 0;               // rows of the block, head width
  Index n_F = 0, n_dS = 0, n_AvT = 0, n_dST = 0;  // widths of N_F, N_dS, A_v^T, N_dST

  // Keys (column-major, ld): K, V (d columns), N_F, N_dS.
  const T *K = nullptr, *V = nullptr, *N_F = nullptr, *N_dS = nullptr;
  // Key-side sums (column-major, ld), accumulated: F^T R A_v^T, dS^T N_dST.
  T *FT_R_AvT = nullptr, *dST_N_dST = nullptr;

  // Rows (row-major): beta Q (b x d). Forward writes row_max, row_sum (b) and
  // the unnormalised sum_j exp(S_ij - row_max_i) N_F[j, :] (b x n_F).
  const T* beta_Q = nullptr;
  T *row_max = nullptr, *row_sum = nullptr, *E_N_F = nullptr;
  // Backward reads R (b x d), delta, inv_sum (b), diag(1/D) R A_v^T (b x n_AvT)
  // and the rows' N_dST (b x n_dST), and writes dS N_dS (b x n_dS).
  const T *R = nullptr, *delta = nullptr, *inv_sum = nullptr, *Dinv_R_AvT = nullptr, *N_dST = nullptr;
  T* dS_N_dS = nullptr;

  // Optional (nullptr: the backward recomputes scores and exp): the forward
  // keeps E = exp(S - m_t) of every tile in E_panel (b rows, ld apart, 64-byte
  // aligned), m_t the row's running max at tile t in tile_max (b x tiles); the
  // backward rescales by exp(m_t - m) instead of recomputing.
  T *E_panel = nullptr, *tile_max = nullptr;

  T* scratch = nullptr;  // fused_scratch_elements(*this) elements, 64-byte aligned

  // Causal masking (-1: none): row i of the block is query causal_row0 + i and
  // sees the keys j <= causal_row0 + i only. The caller sets L to at most
  // causal_row0 + b, so that the tiles no row of the block sees are skipped.
  Index causal_row0 = -1;
};

template <class T>
std::size_t fused_scratch_elements(const FusedBlock<T>& block);

// At least `elements` of 64-byte aligned storage in `buffer` (whose size is
// `size`), kept across blocks.
template <class T>
T* aligned(std::unique_ptr<T[], void (*)(void*)>& buffer, std::size_t& size, std::size_t elements) {
  if (size < elements) {
    const std::size_t bytes = (elements * sizeof(T) + 63) / 64 * 64;
    buffer.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
    if (!buffer) throw std::bad_alloc();
    size = elements;
  }
  return buffer.get();
}

// The tile the kernels take for a requested width: a multiple of
// kFusedPadding, no wider than the padded sequence.
inline std::ptrdiff_t fused_tile(std::ptrdiff_t requested, std::ptrdiff_t length) {
  const std::ptrdiff_t t = requested < length ? requested : length;
  return t <= kFusedPadding ? kFusedPadding : (t + kFusedPadding - 1) / kFusedPadding * kFusedPadding;
}

// The leading dimension of a sequence's padded key side: one padding more than
// needed, since with a power of two (L = 16384) the columns of a tile fall in
// the same L1 sets and evict each other.
inline std::ptrdiff_t fused_leading_dimension(std::ptrdiff_t length) {
  return (length + kFusedPadding - 1) / kFusedPadding * kFusedPadding + kFusedPadding;
}

void fused_forward(const FusedBlock<float>& block);
void fused_forward(const FusedBlock<double>& block);
void fused_backward(const FusedBlock<float>& block);
void fused_backward(const FusedBlock<double>& block);

// The target the dispatch picks on this machine ("AVX3", "AVX2", ...), and a
// mask of the targets compiled in and supported here, for tests that force one.
const char* fused_target_name();
std::int64_t fused_supported_targets();
// Restricts the dispatch to `targets` (a Highway target mask; 0 restores all).
void fused_force_targets(std::int64_t targets);

}  // namespace lorafgc::lora::detail
