#pragma once
// s_beta, how far the gradients move per relative change of beta:
// max_rel(G(beta (1 + h)), G(beta)) / h as h -> 0, max_rel over all returned
// gradients at once (auto's target). An even-degree Chebyshev polynomial's
// error acts on the gradients as such a change (exp_polynomial.hpp,
// gradient_error_factor); auto asks poly for a degree with it (docs/auto.md,
// "How much the temperature term costs").
#include <lorafgc/lora/problem.hpp>

namespace lorafgc::lora::detail {

// s_beta to first order in beta, around the uniform attention F = 1/L: there
// dW_q and dW_k are linear in beta (so d/d log beta returns them) and dW_v moves
// through F and O = F V by terms linear in beta, all of them d x d products of
// L x d matrices (O(L d^2), the rows auto's plan already holds). Exact as
// T -> 0; against the exact s_beta on the families' grids (d = 4, T = 0.25 .. 8,
// docs/auto.md) it is low by at most 2.65x (gaussian, llm at most 2x) and high
// where the attention is far from uniform (adversarial at T >= 2, up to 100x).
// -1 when the gradients vanish to first order.
template <class T>
double first_order_beta_sensitivity(const Problem<T>& p);

extern template double first_order_beta_sensitivity(const Problem<float>&);
extern template double first_order_beta_sensitivity(const Problem<double>&);

}  // namespace lorafgc::lora::detail
