#pragma once
// The smooth activations of the in-context deep-learning workload (Wu et al.,
// ICML 2025, Definition 1) and the constants the construction's error analysis
// needs. Both activations are increasing, so sup_{|t|<=R} |r(t)| = max(|r(R)|, |r(-R)|).
#include <string>

namespace lorafgc::icl {

enum class Activation { softplus, sigmoid };

Activation parse_activation(const std::string& name);  // InvalidArgument("activation") otherwise
std::string activation_name(Activation a);

double activate(Activation a, double t);    // r(t)
double derivative(Activation a, double t);  // r'(t)

// Lipschitz constants of r and r' on the whole line.
double lipschitz_r(Activation a);
double lipschitz_r_prime(Activation a);
// sup |r'| on the whole line.
double sup_r_prime(Activation a);
// sup over |t| <= R of |r(t)|.
double sup_abs_r(Activation a, double R);

}  // namespace lorafgc::icl
