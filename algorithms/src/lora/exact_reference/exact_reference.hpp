#pragma once
// exact-reference: materialises the L x L matrices S, F, dS and follows the
// formulas of docs/lora-gradients.md literally. O(L^2) memory; the
// oracle every other algorithm is tested against.
#include <lorafgc/lora/attention.hpp>
#include <lorafgc/lora/gradients.hpp>
#include <lorafgc/lora/problem.hpp>

#include <functional>

namespace lorafgc::lora {

// E (L x L) in place of exp(beta Q K^T) for sequence b: the attention is E with
// its rows normalised. For testing an approximate method's chain against the
// literal formulas through its own approximate kernel.
template <class T>
using AttentionKernel = std::function<Matrix<T>(Eigen::Index b, const Matrix<T>& Q, const Matrix<T>& K)>;

// `problem` is validated by the caller (detail::Registered). With `kernel`,
// the gradients of the formulas with the kernel's attention in place of softmax.
template <class T>
Gradients<T> exact_reference_gradients(const Problem<T>& problem, bool weights,
                                       const AttentionKernel<T>* kernel = nullptr);

// Attention on Q, K, V (lorafgc/lora/attention.hpp; validated by the caller),
// one sequence at a time with its L x L matrices formed: the literal formulas
// O = F V, dV = F^T dO, dS = F o (dO V^T - rowsum(dO o O) 1^T),
// dQ = scale dS K, dK = scale dS^T Q.
template <class T>
void exact_reference_attention_forward(const AttentionShape& shape, const AttentionForwardIO<T>& io);
template <class T>
void exact_reference_attention_backward(const AttentionShape& shape, const AttentionBackwardIO<T>& io);

// The loss alone (mean over the batch), by the same literal forward pass.
template <class T>
double exact_reference_loss(const Problem<T>& problem);

}  // namespace lorafgc::lora
