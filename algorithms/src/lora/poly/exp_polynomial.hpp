#pragma once
// Polynomial approximations of exp on [-T, T] with certified *relative* error
// sup_s |P(s) - e^s| / e^s (relative, so the softmax normaliser inherits it).
//
//  - Taylor: P = sum_{j<=g} s^j / j!. Certificate: Lagrange's remainder,
//    |P(s) - e^s| / e^s <= T^{g+1} / (g+1)! * e^T (rigorous).
//  - Chebyshev: interpolation of e^s at the g+1 Chebyshev points of the first
//    kind on [-T, T]. Certificate: the maximum of the relative error E(s) on a
//    uniform grid of N points (long double), plus (h/2) max|E'| between grid
//    points, where |E'| <= e^T (|P - f| + |P' - f'|) is bounded through the
//    Chebyshev coefficients of e^{Tx}, a_k = 2 I_k(T): |P - f| <= 2 sum_{k>g} a_k
//    (aliasing) and |P' - f'| <= (1/T) sum_{k>g} a_k (k^2 + g^2) (Markov).
#include <string>
#include <vector>

namespace lorafgc::lora {

enum class PolynomialKind { Taylor, Chebyshev };
PolynomialKind parse_polynomial_kind(const std::string& text);
const char* to_string(PolynomialKind kind);

struct ExpPolynomial {
  PolynomialKind kind = PolynomialKind::Chebyshev;
  int degree = 0;
  double score_bound = 0;  // T: P approximates e^s on [-T, T]
  // P(T x) = sum_j scaled[j] x^j for x in [-1, 1]; scaled[j] = c_j T^j where c_j
  // are the coefficients in s. Kept in this form so no power of T is ever formed.
  std::vector<double> scaled;
  double certified_error = 0;  // >= sup_{[-T, T]} |P(s) - e^s| / e^s
  // gradient_error_factor at the beta_sensitivity and score_rms that
  // certified_exp_polynomial was asked with (1 without them).
  double gradient_factor = 1;

  // P(s) for s in [-T, T], by Horner in x = s / T (long double).
  long double evaluate(long double s) const;
};

ExpPolynomial taylor_exp(int degree, double score_bound);
ExpPolynomial chebyshev_exp(int degree, double score_bound);
ExpPolynomial exp_polynomial(PolynomialKind kind, int degree, double score_bound);

// The temperature term of P's relative error r(s) = P(s) e^-s - 1: its
// least-squares slope E[r(s) s] / E[s^2] over scores s ~ N(0, score_rms^2)
// restricted to [-T, T] (a 401-point grid), or r'(0) = P'(0) - P(0) when
// score_rms <= 0 or below T / 50 (the limit of scores concentrated at the
// centre). A slope h acts on the softmax as a relative change h of beta.
double temperature_slope(const ExpPolynomial& p, double score_rms);

// How much of a certified relative error is expected to reach the gradients
// (docs/auto.md, "How much the temperature term costs"): at an even degree of
// Chebyshev interpolation the error's leading term, a multiple of T_{g+1}(s / T),
// has a slope at the centre, and the gradients' max_rel moves by
// beta_sensitivity (s_beta) per unit of it: max(1, |temperature_slope| s_beta /
// certified_error). 1 at odd degrees (measured 0.2-0.9 of the certificate), for
// Taylor (no slope at the centre) and for s_beta <= 0.
double gradient_error_factor(const ExpPolynomial& p, double beta_sensitivity, double score_rms);

// The smallest degree (<= max_degree) whose certified relative error on [-T, T],
// times gradient_error_factor, is at most eps. Throws InvalidArgument naming eps
// when none is.
ExpPolynomial smallest_exp_polynomial(PolynomialKind kind, double eps, double score_bound,
                                      double beta_sensitivity = 0, double score_rms = 0, int max_degree = 120);

// The certification grid: the smallest 2^(j/64) >= T (at most 1.1% above T;
// 0 for T = 0). A polynomial certified on the grid value covers [-T, T].
double certification_grid(double score_bound);

// exp_polynomial (degree >= 0) or smallest_exp_polynomial (degree < 0) on
// [-G, G], G = certification_grid(T), remembered for the process per (kind,
// eps, degree, G) and, for the factor's choice between the smallest certified
// degree and the next (both remembered), per (beta_sensitivity, score_rms),
// with its gradient_factor:
// certifying a Chebyshev polynomial takes 0.4-5 ms (T = 0.5 .. 4), as long as
// poly itself on a short sequence. Thread-safe.
ExpPolynomial certified_exp_polynomial(PolynomialKind kind, double eps, int degree, double score_bound,
                                       double beta_sensitivity = 0, double score_rms = 0);

// max over `points` uniformly spaced s in [-T, T] of |P(s) - e^s| / e^s.
double grid_relative_error(const ExpPolynomial& p, int points);

}  // namespace lorafgc::lora
