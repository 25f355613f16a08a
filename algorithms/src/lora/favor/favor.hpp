#pragma once
// favor: the chained low-rank backward pass (lora/poly/chained_gradients.hpp)
// with FAVOR+ positive random features of rank m instead of the polynomial's
// monomials. info: rank (m), T_used, T_cauchy_schwarz, T_centred, flops,
// workspace_bytes, seed. No error_bound: the error is an estimate's.
#include <lorafgc/lora/attention.hpp>
#include <lorafgc/lora/cost_model.hpp>
#include <lorafgc/lora/gradients.hpp>
#include <lorafgc/lora/problem.hpp>

#include <cstdint>

namespace lorafgc::lora {

struct FavorConfig {
  long long features = 256;  // m
  std::uint64_t seed = 1;
  bool orthogonal = true;
  bool weights = false;
  bool centre = true;
  long long range_rows = 64;
  long long block_rows = 0;  // 0: sweep_block_rows chooses
  int threads = 0;
};

Cost favor_cost(const ProblemShape& shape, int scalar_bytes, const FavorConfig& config);
double favor_workspace_bytes(const ProblemShape& shape, int scalar_bytes, const FavorConfig& config);

template <class T>
Gradients<T> favor_gradients(const Problem<T>& problem, const FavorConfig& config);

// Attention on Q, K, V (lorafgc/lora/attention.hpp; validated by the caller)
// through the chained low-rank attention (lora/poly/chained_attention.hpp);
// info: the rank, seed and range (no certificate, no bound).
template <class T>
void favor_attention(const AttentionShape& shape, const AttentionForwardIO<T>& io, const FavorConfig& config);
template <class T>
void favor_attention(const AttentionShape& shape, const AttentionBackwardIO<T>& io, const FavorConfig& config);

}  // namespace lorafgc::lora
