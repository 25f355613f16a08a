#pragma once
#include <lorafgc/lora/problem.hpp>
#include <lorafgc/core/types.hpp>

#include <map>
#include <optional>

namespace lorafgc::lora {

template <class T>
struct AdapterGradient {
  Matrix<T> dB;  // d x r
  Matrix<T> dA;  // r x d
};

// What every algorithm returns: the loss (mean over the batch), dB and dA for
// each adapted weight, optionally the full d x d weight gradients, and
// algorithm-specific facts (degree, rank, score bound, ...) in `info`.
template <class T>
struct Gradients {
  double loss = 0.0;
  std::array<std::optional<AdapterGradient<T>>, 3> adapter;
  std::array<std::optional<Matrix<T>>, 3> weight;
  std::map<std::string, double> info;
};

// dB = s dW A^T and dA = s B^T dW for every adapted weight, from the d x d
// weight gradients dW (indexed by Projection); keeps dW in `weight` on request.
template <class T>
Gradients<T> gradients_from_weights(const Problem<T>& problem, double loss, const std::array<Matrix<T>, 3>& dW,
                                    bool keep_weights);

// Throws NumericalError if the loss or any gradient entry is not finite.
template <class T>
void require_finite_gradients(const Gradients<T>& g, const std::string& algorithm);

}  // namespace lorafgc::lora
