#pragma once
// Attention on Q, K, V through any low-rank map of exp (feature_map.hpp):
// exp(S'_ij) ~ E~_ij = <U_i, W_j>, U = phi(Q^), W = psi(K^) of rank k,
// S' = scale Q (K - c)^T the scores shifted per row (softmax does not see the
// shift), never an L x L matrix (docs/attention-backend.md, "The polynomial
// method"). The certified polynomial (poly/attention.cpp) and the random maps
// (favor, poly-sketch) end here, as their LoRA gradients end in
// chained_gradients.hpp.
#include <lorafgc/lora/attention.hpp>

#include "lora/common/certified_range.hpp"
#include "lora/poly/feature_map.hpp"

#include <string>
#include <vector>

namespace lorafgc::lora::detail {

using Index = Eigen::Index;

// poly-hybrid: one sequence's rows whose every score is taken exactly, exp(S'_ij)
// itself (docs/attention-backend.md, "The hybrid method"); the map covers the rest.
struct ExactRows {
  std::vector<Index> queries, keys;
};

template <class T>
struct ChainedAttention {
  const CertifiedRange* range = nullptr;  // T_used: the interval the map is scaled to
  const FeatureMap<T>* features = nullptr;
  Index block_rows = 0;                   // most rows per chunk, 0: chunk_rows alone (causal: each diagonal chunk exactly)
  int threads = 0;                        // 0: the OpenMP default
  std::string method;                     // named when a normaliser is not positive
  const std::vector<ExactRows>* exact_rows = nullptr;  // per sequence (poly-hybrid), or none
};

// The queries and keys of every sequence, as certified_range starts from them.
template <class T>
std::vector<SequenceRows<T>> attention_rows(const AttentionShape& shape, const T* q, const T* k, bool centre);

// What every map reports about the scores: T_used (the data's certified
// range), T_cauchy_schwarz, T_centred; and the map's rank.
void report_attention_range(AttentionInfo& info, const CertifiedRange& range, double T_used, double rank);

// out and lse; NumericalError naming a.method when some normaliser D_i <= 0.
template <class T>
void chained_attention_forward(const AttentionShape& shape, const AttentionForwardIO<T>& io,
                               const ChainedAttention<T>& a);
// dq, dk, dv; returns per sequence the largest column sum of F~ (the a-priori bounds use it).
template <class T>
std::vector<double> chained_attention_backward(const AttentionShape& shape, const AttentionBackwardIO<T>& io,
                                               const ChainedAttention<T>& a);

}  // namespace lorafgc::lora::detail
