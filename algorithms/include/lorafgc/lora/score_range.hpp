#pragma once
// The certified score range of an instance: the interval of (row-shifted)
// scores an approximation of exp must cover. docs/lora-gradients.md,
// "Certified score range".
#include <lorafgc/lora/problem.hpp>

namespace lorafgc::lora {

struct ScoreRangeOptions {
  bool centre = true;          // shift row i by beta Q_i.c, c the keys' centre (softmax-invariant)
  // Budget of the exact-score search for the longest queries and keys, in rows
  // of L scores per side; 0 keeps the (centred) Cauchy-Schwarz bound.
  long long range_rows = 64;
};

struct ScoreRange {
  double T_cauchy_schwarz = 0;  // |beta| max||Q_i|| max||K_j||: Problem::score_bound()
  double T_centred = 0;         // |beta| max||Q_i|| max||K_j - c||
  double T_used = 0;            // certified: |S_ij - beta Q_i.c| <= T_used for every pair
};

// O(L d^2 + L log L + range_rows L d) per sequence. The polynomial method fits exp on
// [-T_used, T_used] with the same options (poly's centre and range_rows).
template <class T>
ScoreRange certified_score_range(const Problem<T>& problem, const ScoreRangeOptions& options = {});

// Shifts every token of every sequence by one vector x0 (in the direction of
// W_k's largest singular value) so that the keys become b + g_j with
// ||b|| = ratio max_j ||g_j||: keys sharing a common component, as real
// attention keys do. Queries and values shift too.
template <class T>
void add_common_key_component(Problem<T>& problem, double ratio);

// The shift x0 of add_common_key_component for tokens X and key weights W_k.
template <class T>
Vector<T> common_key_shift(const std::vector<Matrix<T>>& X, const Matrix<T>& Wk, double ratio);

}  // namespace lorafgc::lora
