#pragma once
// exact-reference: materialises the L x L matrices S, F, dS and follows the
// formulas of docs/lora-gradients.md literally. O(L^2) memory; the
// oracle every other algorithm is tested against.
#include <lorafgc/lora/gradients.hpp>
#include <lorafgc/lora/problem.hpp>

namespace lorafgc::lora {

// `problem` is validated by the caller (detail::Registered).
template <class T>
Gradients<T> exact_reference_gradients(const Problem<T>& problem, bool weights);

// The loss alone (mean over the batch), by the same literal forward pass.
template <class T>
double exact_reference_loss(const Problem<T>& problem);

}  // namespace lorafgc::lora
