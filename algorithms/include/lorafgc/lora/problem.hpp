#pragma once
// One LoRA-adapted single-head attention instance (notation of
// docs/lora-gradients.md): a batch of sequences X_b (L x d) with targets
// Y_b, frozen weights W*, and a LoRA pair (B: d x r, A: r x d) per adapted weight.
#include <lorafgc/core/types.hpp>
#include <lorafgc/lora/projection.hpp>

#include <optional>
#include <vector>

namespace lorafgc::lora {

template <class T>
struct LoraAdapter {
  Matrix<T> B;  // d x r
  Matrix<T> A;  // r x d
};

template <class T>
struct Problem {
  std::vector<Matrix<T>> X;           // batch of L x d sequences
  std::vector<Matrix<T>> Y;           // targets, same shapes as X
  std::array<Matrix<T>, 3> W;         // frozen W*_q, W*_k, W*_v, each d x d
  std::array<std::optional<LoraAdapter<T>>, 3> adapter;  // by Projection
  double alpha = 1.0;                 // LoRA scale s = alpha / r
  double beta = 1.0;                  // inverse temperature of the scores

  Eigen::Index batch() const { return static_cast<Eigen::Index>(X.size()); }
  Eigen::Index length() const { return X.empty() ? 0 : X.front().rows(); }
  Eigen::Index width() const { return W[index(Projection::Q)].rows(); }
  Eigen::Index rank() const;          // r of the adapters (all share one rank)
  double scale() const { return alpha / static_cast<double>(rank()); }
  bool adapted(Projection p) const { return adapter[index(p)].has_value(); }

  // W*_mu + s B_mu A_mu, or W*_mu when mu is not adapted.
  Matrix<T> effective_weight(Projection p) const;

  // T = |beta| max_i ||Q_i|| max_j ||K_j|| over the batch: every score satisfies
  // |S_ij| <= T (Cauchy-Schwarz). O(L d^2).
  double score_bound() const;

  // Throws InvalidArgument naming the offending field: shapes, ranks, finiteness,
  // empty batch, L = 0, no adapter at all.
  void validate() const;
};

// The shape of a problem, enough for cost models and memory estimates.
struct ProblemShape {
  long long batch = 1, length = 0, width = 0, rank = 0;
  std::array<bool, 3> adapted{true, false, true};
  bool weights = false;  // full d x d weight gradients requested
  double score_bound = -1;  // Problem::score_bound(), or -1 when unknown
  // s_beta, the gradients' max_rel per relative change of beta (auto's
  // estimate on an instance, lora/auto_select/beta_sensitivity.hpp), or -1
  // when unknown.
  double beta_sensitivity = -1;
  int adapted_count() const { return adapted[index(Projection::Q)] + adapted[index(Projection::K)] + adapted[index(Projection::V)]; }
};

// With `score_bound` false the O(L d^2) score bound is skipped (-1).
template <class T>
ProblemShape shape_of(const Problem<T>& p, bool score_bound = true);

// The same instance in float64 (exact widening): the truth errors are measured against.
template <class T>
Problem<double> to_float64(const Problem<T>& p);

extern template struct Problem<float>;
extern template struct Problem<double>;

}  // namespace lorafgc::lora
