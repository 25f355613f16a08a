#pragma once
// The error measures of docs/lora-gradients.md, over every adapter
// gradient (and weight gradient) the reference holds.
#include <lorafgc/lora/gradients.hpp>

namespace lorafgc::lora {

struct ErrorMetrics {
  double max_abs = 0;        // max over matrices and entries of |G~ - G|
  double max_rel = 0;        // max over matrices of ||G~ - G||_max / ||G||_max
  double frobenius_rel = 0;  // ||G~ - G||_F / ||G||_F over all matrices stacked
  double loss_abs = 0;       // |loss~ - loss|
};

// Compares in double; `approx` must hold every gradient `reference` holds
// (InvalidArgument otherwise).
template <class T, class U>
ErrorMetrics compare_gradients(const Gradients<T>& approx, const Gradients<U>& reference);

}  // namespace lorafgc::lora
