#include <lorafgc/core/errors.hpp>
#include "lora/poly/exp_polynomial.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <tuple>

namespace lorafgc::lora {

PolynomialKind parse_polynomial_kind(const std::string& text) {
  if (text == "taylor") return PolynomialKind::Taylor;
  if (text == "chebyshev" || text == "cheb") return PolynomialKind::Chebyshev;
  throw InvalidArgument("polynomial", "expected 'taylor' or 'chebyshev', got '" + text + "'");
}

const char* to_string(PolynomialKind kind) { return kind == PolynomialKind::Taylor ? "taylor" : "chebyshev"; }

long double ExpPolynomial::evaluate(long double s) const {
  const long double x = score_bound > 0 ? s / score_bound : 0;
  long double acc = 0;
  for (int j = degree; j >= 0; --j) acc = acc * x + scaled[j];
  return acc;
}

namespace {

constexpr int kCertificateGrid = 8192;

// The coefficients are stored in double: each carries a relative rounding of at
// most u = 2^-53, which moves P(s) by u sum_j |scaled_j| |x|^j <= u sum_j |scaled_j|,
// a relative error of at most u sum_j |scaled_j| e^T. For large T this term,
// ~u e^{2T}, is the cancellation of a monomial expansion and caps the attainable
// eps (T = 15 allows about 1e-3 in double).
double coefficient_rounding(const ExpPolynomial& p) {
  long double sum = 0;
  for (double c : p.scaled) sum += std::abs(c);
  return static_cast<double>(std::ldexp(1.0L, -53) * sum * std::exp(static_cast<long double>(p.score_bound)));
}

void require_interval(double score_bound, int degree) {
  if (!(score_bound >= 0) || !std::isfinite(score_bound)) throw InvalidArgument("T", "score bound must be finite and >= 0");
  if (degree < 0) throw InvalidArgument("degree", "must be >= 0");
}

// Modified Bessel function I_k(T) by its positive power series (no cancellation).
long double bessel_i(int k, long double score_bound) {
  long double term = std::pow(score_bound / 2, static_cast<long double>(k)) / std::tgamma(static_cast<long double>(k + 1));
  long double sum = term;
  for (int m = 1; m < 400 && term > sum * 1e-21L; ++m) {
    term *= (score_bound * score_bound / 4) / (static_cast<long double>(m) * (m + k));
    sum += term;
  }
  return sum;
}

// e^T |f - p_g| <= e^T 2 sum_{k>g} a_k, a_k = 2 I_k(T): the interpolant's
// relative error in exact arithmetic, bounded through its aliasing.
double chebyshev_aliasing_bound(int g, double score_bound) {
  long double tail = 0;
  for (int k = g + 1; k < g + 200; ++k) {
    const long double ak = 2 * bessel_i(k, score_bound);
    tail += ak;
    if (ak < 1e-40L) break;
  }
  return static_cast<double>(2 * tail * std::exp(static_cast<long double>(score_bound)));
}

}  // namespace

ExpPolynomial taylor_exp(int degree, double score_bound) {
  require_interval(score_bound, degree);
  ExpPolynomial p;
  p.kind = PolynomialKind::Taylor;
  p.degree = degree;
  p.score_bound = score_bound;
  p.scaled.resize(degree + 1);
  long double term = 1;  // T^j / j!
  for (int j = 0; j <= degree; ++j) {
    if (j > 0) term *= static_cast<long double>(score_bound) / j;
    p.scaled[j] = static_cast<double>(term);
  }
  const long double log_bound = (degree + 1) * std::log(static_cast<long double>(score_bound)) -
                                std::lgamma(static_cast<long double>(degree + 2)) + score_bound;
  p.certified_error = (score_bound == 0 ? 0.0 : static_cast<double>(std::exp(log_bound))) + coefficient_rounding(p);
  return p;
}

ExpPolynomial chebyshev_exp(int degree, double score_bound) {
  require_interval(score_bound, degree);
  ExpPolynomial p;
  p.kind = PolynomialKind::Chebyshev;
  p.degree = degree;
  p.score_bound = score_bound;
  const int n = degree + 1;
  const long double pi = std::acos(-1.0L);
  // Chebyshev coefficients of the interpolant: a_k = (2/n) sum_i f(T x_i) T_k(x_i).
  std::vector<long double> a(n, 0.0L);
  for (int i = 0; i < n; ++i) {
    const long double theta = pi * (2 * i + 1) / (2.0L * n);
    const long double f = std::exp(static_cast<long double>(score_bound) * std::cos(theta));
    for (int k = 0; k < n; ++k) a[k] += f * std::cos(k * theta);
  }
  for (auto& v : a) v *= 2.0L / n;
  a[0] /= 2;
  // To the monomial basis in x by the recurrence T_{k+1} = 2x T_k - T_{k-1}, in
  // long double: the T_k have coefficients of size ~2^k with alternating signs.
  std::vector<long double> mono(n, 0.0L), prev(n, 0.0L), cur(n, 0.0L), next(n, 0.0L);
  prev[0] = 1;  // T_0
  mono[0] += a[0];
  if (n > 1) {
    cur[1] = 1;  // T_1
    mono[1] += a[1];
  }
  for (int k = 2; k < n; ++k) {
    for (int j = 0; j < n; ++j) next[j] = (j > 0 ? 2 * cur[j - 1] : 0) - prev[j];
    for (int j = 0; j < n; ++j) mono[j] += a[k] * next[j];
    prev.swap(cur);
    cur.swap(next);
  }
  p.scaled.assign(mono.begin(), mono.end());

  // Certificate: grid maximum plus a rigorous bound between grid points.
  const double grid_max = grid_relative_error(p, kCertificateGrid);
  long double tail = 0;
  for (int k = n; k < n + 200; ++k) {
    const long double ak = 2 * bessel_i(k, score_bound);
    tail += ak * (2 + (score_bound > 0 ? (static_cast<long double>(k) * k + static_cast<long double>(degree) * degree) / score_bound : 0));
    if (ak < 1e-40L) break;
  }
  const long double h = 2.0L * score_bound / (kCertificateGrid - 1);
  p.certified_error = static_cast<double>(grid_max + h / 2 * std::exp(static_cast<long double>(score_bound)) * tail) +
                      coefficient_rounding(p);
  return p;
}

ExpPolynomial exp_polynomial(PolynomialKind kind, int degree, double score_bound) {
  return kind == PolynomialKind::Taylor ? taylor_exp(degree, score_bound) : chebyshev_exp(degree, score_bound);
}

double temperature_slope(const ExpPolynomial& p, double score_rms) {
  const long double T = p.score_bound;
  if (!(T > 0)) return 0;
  if (!(score_rms >= T / 50)) {  // r'(0) = P'(0) - P(0), from P(T x) = sum scaled[j] x^j
    const long double first = p.degree >= 1 ? p.scaled[1] / T : 0.0L;
    return static_cast<double>(first - p.scaled[0]);
  }
  // e^-s and the Gaussian weight by running products (ratios e^-h, and
  // q_i = w_{i+1} / w_i falling by e^{-h^2 / sigma^2}): three exp calls, not 802.
  constexpr int points = 401;
  const long double h = 2 * T / (points - 1), v = static_cast<long double>(score_rms) * score_rms;
  long double num = 0, den = 0, decay = std::exp(T), weight = std::exp(-T * T / (2 * v)),
              ratio = std::exp((2 * T * h - h * h) / (2 * v));
  const long double step = std::exp(-h), fall = std::exp(-h * h / v);
  for (int i = 0; i < points; ++i) {
    const long double s = -T + h * i;
    num += weight * (p.evaluate(s) * decay - 1) * s;
    den += weight * s * s;
    decay *= step, weight *= ratio, ratio *= fall;
  }
  return static_cast<double>(num / den);
}

double gradient_error_factor(const ExpPolynomial& p, double beta_sensitivity, double score_rms) {
  if (p.kind != PolynomialKind::Chebyshev || p.degree % 2 != 0 || !(beta_sensitivity > 0) || !(p.certified_error > 0))
    return 1;
  return std::max(1.0, std::abs(temperature_slope(p, score_rms)) * beta_sensitivity / p.certified_error);
}

namespace {

// The smallest degree certifying eps for the entries (below it none does for
// the gradients either: gradient_error_factor is >= 1).
ExpPolynomial smallest_certified(PolynomialKind kind, double eps, double score_bound, int max_degree) {
  // The coefficient-rounding term alone approaches u e^{2T} at high degree.
  const bool cancellation_bound = std::ldexp(1.0, -53) * std::exp(2 * score_bound) > eps;
  if (!cancellation_bound && kind == PolynomialKind::Chebyshev) {
    // Each Chebyshev certificate costs a dense grid, so start from the degree the
    // aliasing bound e^T 2 sum_{k>g} a_k (an upper bound on the relative error)
    // accepts, and walk down while the certificate still holds; up if it does not.
    int g = 0;
    while (g < max_degree && chebyshev_aliasing_bound(g, score_bound) > eps) ++g;
    ExpPolynomial best = chebyshev_exp(g, score_bound);
    for (int up = g + 1; best.certified_error > eps && up <= max_degree; ++up) best = chebyshev_exp(up, score_bound);
    if (best.certified_error <= eps) {
      for (int down = best.degree - 1; down >= 0; --down) {
        ExpPolynomial p = chebyshev_exp(down, score_bound);
        if (p.certified_error > eps) break;
        best = p;
      }
      return best;
    }
  }
  for (int g = 0; g <= max_degree && !cancellation_bound && kind == PolynomialKind::Taylor; ++g) {
    ExpPolynomial p = exp_polynomial(kind, g, score_bound);
    if (p.certified_error <= eps) return p;
  }
  char text[256];
  std::snprintf(text, sizeof text,
                "no %s polynomial of degree <= %d certifies relative error %.3g on [-T, T] with T = %.4g "
                "(the monomial form loses about 1e-16 e^{2T} = %.2g to cancellation)",
                to_string(kind), max_degree, eps, score_bound, 1.1e-16 * std::exp(2 * score_bound));
  throw InvalidArgument("eps", text);
}

}  // namespace

namespace {

void check_temperature(double beta_sensitivity, double score_rms) {
  if (!(beta_sensitivity >= 0) || !std::isfinite(beta_sensitivity))
    throw InvalidArgument("beta_sensitivity", "must be finite and >= 0");
  if (!(score_rms >= 0) || !std::isfinite(score_rms)) throw InvalidArgument("score_rms", "must be finite and >= 0");
}

// Above the smallest certified degree p, the first whose factor lets it through:
// the next (odd) one, unless the coefficients' rounding stalls the certificate.
template <class Next>
ExpPolynomial first_meeting(ExpPolynomial p, double eps, double beta_sensitivity, double score_rms, int max_degree,
                            Next next) {
  while (p.certified_error * gradient_error_factor(p, beta_sensitivity, score_rms) > eps) {
    if (p.degree >= max_degree)
      throw InvalidArgument("eps", "no " + std::string(to_string(p.kind)) + " polynomial of degree <= " +
                                       std::to_string(max_degree) + " meets eps with beta_sensitivity " +
                                       std::to_string(beta_sensitivity));
    p = next(p.degree + 1);
  }
  return p;
}

}  // namespace

ExpPolynomial smallest_exp_polynomial(PolynomialKind kind, double eps, double score_bound, double beta_sensitivity,
                                      double score_rms, int max_degree) {
  if (!(eps > 0) || !(eps < 1)) throw InvalidArgument("eps", "must lie in (0, 1)");
  check_temperature(beta_sensitivity, score_rms);
  return first_meeting(smallest_certified(kind, eps, score_bound, max_degree), eps, beta_sensitivity, score_rms,
                       max_degree, [&](int g) { return exp_polynomial(kind, g, score_bound); });
}

double grid_relative_error(const ExpPolynomial& p, int points) {
  if (points < 2) throw InvalidArgument("points", "need at least 2 grid points");
  // e^{-s} by a running product, re-anchored with exp() every 64 points: the
  // product's drift (< 64 long-double roundings, ~1e-17) is far below any eps.
  const long double h = 2.0L * p.score_bound / (points - 1), decay = std::exp(-h);
  long double worst = 0, weight = 0;
  for (int i = 0; i < points; ++i) {
    const long double s = -static_cast<long double>(p.score_bound) + h * i;
    weight = i % 64 == 0 ? std::exp(-s) : weight * decay;
    worst = std::max(worst, std::abs(p.evaluate(s) * weight - 1));
  }
  return static_cast<double>(worst);
}

double certification_grid(double score_bound) {
  if (!(score_bound > 0)) return 0;
  // j from log2 may be one off either way by rounding; take the smallest of
  // the neighbours that is >= T, so that a grid value maps to itself.
  const double j = std::ceil(64 * std::log2(score_bound));
  for (double k : {j - 1, j, j + 1})
    if (const double g = std::exp2(k / 64); g >= score_bound) return g;
  return std::nextafter(std::exp2((j + 1) / 64), HUGE_VAL);
}

ExpPolynomial certified_exp_polynomial(PolynomialKind kind, double eps, int degree, double score_bound,
                                       double beta_sensitivity, double score_rms) {
  static std::mutex mutex;
  static std::map<std::tuple<int, double, int, double>, ExpPolynomial> cache;
  const double grid = certification_grid(score_bound);
  const auto cached = [&](double e, int g) {
    const auto key = std::make_tuple(static_cast<int>(kind), g >= 0 ? 0.0 : e, g, grid);
    {
      const std::lock_guard<std::mutex> lock(mutex);
      if (const auto it = cache.find(key); it != cache.end()) return it->second;
    }
    ExpPolynomial p = g >= 0 ? exp_polynomial(kind, g, grid) : smallest_exp_polynomial(kind, e, grid);
    const std::lock_guard<std::mutex> lock(mutex);
    return cache.emplace(key, std::move(p)).first->second;
  };
  check_temperature(beta_sensitivity, score_rms);
  if (beta_sensitivity == 0) return cached(eps, degree);
  // The factor's slope takes 401 long-double evaluations: kept too.
  static std::map<std::tuple<int, double, int, double, double, double>, ExpPolynomial> chosen;
  const auto key = std::make_tuple(static_cast<int>(kind), degree >= 0 ? 0.0 : eps, degree, grid, beta_sensitivity,
                                   score_rms);
  {
    const std::lock_guard<std::mutex> lock(mutex);
    if (const auto it = chosen.find(key); it != chosen.end()) return it->second;
  }
  ExpPolynomial p = degree >= 0 ? cached(eps, degree)
                                : first_meeting(cached(eps, -1), eps, beta_sensitivity, score_rms, 120,
                                                [&](int g) { return cached(eps, g); });
  p.gradient_factor = gradient_error_factor(p, beta_sensitivity, score_rms);
  const std::lock_guard<std::mutex> lock(mutex);
  return chosen.emplace(key, std::move(p)).first->second;
}

}  // namespace lorafgc::lora
