#pragma once
// Where every fused algorithm ends: per adapted projection mu the contracted
// products right_mu = dW_mu A_mu^T and left_mu = B_mu^T dW_mu, averaged over
// the batch (with `whole`, right_mu is dW_mu itself and left_mu is unused);
// then dB_mu = s right_mu, dA_mu = s left_mu, or both from dW_mu.
#include <lorafgc/lora/gradients.hpp>

#include <array>

namespace lorafgc::lora::detail {

template <class T>
struct ContractedGradients {
  std::array<Matrix<T>, 3> right, left;  // by Projection
  double loss = 0;                       // summed over the batch

  // into += term / batch, allocating `into` on first use.
  static void add(Matrix<T>& into, const Matrix<T>& term, T inv_batch) {
    if (into.size() == 0) into = Matrix<T>::Zero(term.rows(), term.cols());
    into.noalias() += inv_batch * term;
  }
};

// The returned gradients; keep_weights also returns dW (needs whole).
template <class T>
Gradients<T> assemble_gradients(const Problem<T>& p, const ContractedGradients<T>& sums, bool whole,
                                bool keep_weights);

}  // namespace lorafgc::lora::detail
