#pragma once
// The chained low-rank backward pass for any feature map (feature_map.hpp):
// per sequence the thin factors, the scaled rows Q^, K^ of the certified range,
// the three sweeps (sweeps.hpp) and their contracted products, summed over the
// batch. The polynomial method, poly-hybrid (with exact pairs) and the random
// feature maps all end here; what differs is the map and the error analysis.
#include "lora/common/certified_range.hpp"
#include "lora/common/contracted_gradients.hpp"
#include "lora/poly/sweeps.hpp"

#include <lorafgc/lora/sequence_parallel.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>

namespace lorafgc::lora::detail {

template <class T>
struct ChainedOptions {
  bool whole = false;         // the d x d weight gradients (or the uncontracted route)
  double eta = 0;             // relative error of the softmax entries, for the bound's sums (0: none)
  Index block_rows = 512;
  int threads = 0;            // 0: the OpenMP default
  std::string method;         // named in the error when a normaliser is not positive
  // poly-hybrid: the exact pairs of sequence b, made from its Q^ (kept) and K^
  // (whose outlier rows they zero). Empty: none.
  std::function<std::optional<ExactPairs<T>>(Index b, const Matrix<T>& Q_hat, Matrix<T>& K_hat)> exact_pairs;
  // Sequence-parallel (lorafgc/lora/sequence_parallel.hpp): p holds this process's
  // rows of sequences of `length` rows; the column means, the key sums after
  // sweep A and the query sums after sweep B are reduced over comm. The
  // contracted products returned are this process's share.
  Collectives* comm = nullptr;
  Index length = 0;
  // Called after sweep B of sequence b (the error bound's sums). Empty: none.
  std::function<void(Index b, const Matrix<T>& X, const SequenceFactors<T>& f, const QuerySums<T>& B)> after;
};

// What a random feature map's result reports (docs/random-features.md): the
// rank, the data's score range (T_used: the largest |S'| the map scales for;
// T_cauchy_schwarz, T_centred), the seed, and the cost model's flops and bytes.
struct RandomMapInfo {
  double rank = 0, seed = 0, flops = 0, workspace_bytes = 0;
};
void report_random_map(std::map<std::string, double>& info, const CertifiedRange& range, double T_used,
                       const RandomMapInfo& map);

// Throws NumericalError naming options.method when some D_i <= 0.
template <class T>
ContractedGradients<T> chained_gradients(const Problem<T>& p, const std::array<Matrix<T>, 3>& W,
                                         const CertifiedRange& range, const FeatureMap<T>& features,
                                         const ChainedOptions<T>& options);

}  // namespace lorafgc::lora::detail
