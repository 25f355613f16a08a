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
};

template <class T>
std::size_t fused_scratch_elements(const FusedBlock<T>& block);

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
