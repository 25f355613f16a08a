#include "lora/poly/outlier_rows.hpp"

#include <lorafgc/core/errors.hpp>

#include "lora/common/certified_range.hpp"
#include "lora/poly/exp_polynomial.hpp"
#include "lora/poly/monomial_features.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>
#include <tuple>
#include <optional>
#include <stdexcept>
#include <string>

namespace lorafgc::lora::detail {

template <class T>
LongestRows longest_rows(const Matrix<T>& M, Index count) {
  const Index n = M.rows();
  LongestRows out;
  out.norms.resize(static_cast<std::size_t>(n));
  // A column at a time (row_norms): Eigen's rowwise().norm() on the
  // column-major M strode across columns and was a tenth of auto's plan at
  // L = 4096, d = 4 (llm).
  Eigen::Map<Eigen::VectorXd>(out.norms.data(), n) = row_norms(M);
  // Only the order statistics the choice reads: a selection of values per
  // count, each on the prefix the larger one left (O(L) in all); the rows of
  // the chosen count are gathered afterwards (first). The sort of the L / 2
  // longest rows it replaces was most of auto's plan at L = 16384 (2.7 ms of 7).
  std::vector<double> values = out.norms;
  std::vector<Index> counts = outlier_counts(n, count);
  counts.push_back(std::min(count, n));
  std::sort(counts.begin(), counts.end(), std::greater<Index>());
  auto end = values.end();
  for (Index m : counts) {
    if (m >= n) {
      out.norm_after[m] = 0;
      continue;
    }
    std::nth_element(values.begin(), values.begin() + m, end, std::greater<double>());
    out.norm_after[m] = values[static_cast<std::size_t>(m)];
    end = values.begin() + m;
  }
  return out;
}

std::vector<Index> LongestRows::first(Index m) const {
  const Index n = static_cast<Index>(norms.size());
  if (m >= n) {
    std::vector<Index> all(static_cast<std::size_t>(n));
    std::iota(all.begin(), all.end(), Index{0});
    return all;
  }
  const double threshold = after(m);
  std::vector<Index> out;
  for (Index i = 0; i < n; ++i)
    if (norms[static_cast<std::size_t>(i)] > threshold) out.push_back(i);
  for (Index i = 0; i < n && static_cast<Index>(out.size()) < m; ++i)
    if (norms[static_cast<std::size_t>(i)] == threshold) out.push_back(i);
  return out;
}

double LongestRows::after(Index m) const {
  const auto it = norm_after.find(m);
  if (it == norm_after.end()) throw std::logic_error("LongestRows::after: " + std::to_string(m) + " rows were not selected");
  return it->second;
}

std::vector<Index> outlier_counts(Index length, Index max_count) {
  std::vector<Index> out{0};
  for (Index m = 8; m <= std::min(max_count, length / 2); m *= 2) out.push_back(m);
  return out;
}

namespace {

// I_k(T), the modified Bessel function, by its power series (T <= ~700, k <= ~200).
long double bessel_i(int k, long double T) {
  long double term = std::exp(k * std::log(T / 2) - std::lgamma(k + 1.0L)), sum = 0;
  for (int m = 0; m < 2000 && term > sum * 1e-20L; ++m) {
    sum += term;
    term *= (T / 2) * (T / 2) / ((m + 1.0L) * (m + 1.0L + k));
  }
  return sum;
}

double predicted_error(PolynomialKind kind, int g, double T) {
  if (T <= 0) return 0;
  if (kind == PolynomialKind::Taylor)
    return static_cast<double>(std::exp((g + 1) * std::log(static_cast<long double>(T)) - std::lgamma(g + 2.0L) + T));
  // I_{k+1}(T) / I_k(T) < T / (2 (k + 1)): the tail is at most geometric from I_{g+1}.
  const long double ratio = T / (2.0L * (g + 2));
  if (ratio >= 1) return std::numeric_limits<double>::infinity();
  const long double tail = 2 * bessel_i(g + 1, T) / (1 - ratio);
  return static_cast<double>(2 * std::exp(static_cast<long double>(T)) * tail);
}

}  // namespace

// The largest T at which degree g meets eps: predicted_error grows with T, so
// degree g serves exactly [0, reach]. Found by bisection once per (kind, eps,
// g) and kept: the choice asks for the degree of every pair of counts (49 at
// L = 512, 144 at 16384), and the Bessel series behind each answer was 40% of
// auto's plan at L = 512.
double degree_reach(PolynomialKind kind, double eps, int g) {
  static std::mutex m;
  static std::map<std::tuple<int, double, int>, double> reach;
  const auto key = std::make_tuple(static_cast<int>(kind), eps, g);
  {
    std::lock_guard<std::mutex> lock(m);
    if (const auto it = reach.find(key); it != reach.end()) return it->second;
  }
  double lo = 0, hi = 1;
  while (hi < 1e4 && predicted_error(kind, g, hi) <= eps) lo = hi, hi *= 2;
  if (hi < 1e4 || predicted_error(kind, g, hi) > eps)
    for (int i = 0; i < 64 && lo < hi; ++i) {
      const double mid = (lo + hi) / 2;
      (predicted_error(kind, g, mid) <= eps ? lo : hi) = mid;
    }
  else
    lo = hi;
  std::lock_guard<std::mutex> lock(m);
  return reach[key] = lo;
}

int predicted_degree(PolynomialKind kind, double eps, double score_bound, int max_degree) {
  for (int g = 0; g <= max_degree; ++g)
    if (score_bound <= degree_reach(kind, eps, g)) return g;
  return -1;
}

OutlierChoice choose_outliers(const ProblemShape& shape, double T_used, double unit_roundoff,
                              const std::vector<LongestRows>& queries, const std::vector<LongestRows>& keys,
                              const PolyConfig& c) {
  // The stored K^ is rescaled once more to the bulk's range: one more rounding.
  const double margin = 1 + 3 * unit_roundoff + 8 * std::numeric_limits<double>::epsilon() * (shape.width + 2);
  const auto bound = [&](Index mq, Index mk) {
    double product = 0;
    for (std::size_t b = 0; b < queries.size(); ++b)
      product = std::max(product, queries[b].after(mq) * keys[b].after(mk));
    return product * margin;
  };
  // Predicted flops of the polynomial on the bulk range at the degree degree_of(T)
  // gives, plus the exact pairs (weighted: see kGatheredFlopWeight).
  const auto flops = [&](Index mq, Index mk, double product, auto degree_of) {
    const int g = c.degree >= 0 ? c.degree : degree_of(std::min(T_used, T_used * product));
    const long long k = g < 0 ? -1 : monomial_rank(shape.width, g);
    if (k < 0) return std::numeric_limits<double>::infinity();
    const Cost exact = exact_pairs_cost(shape, mq, mk, c);
    return poly_flops(shape, k, c) + kGatheredFlopWeight * (exact.flops + kExpFlops * exact.exps);
  };
  // Predicted without the temperature term (at most one degree lower: the
  // ranking's estimate); the chosen counts' degree is certified with it.
  const auto predicted = [&](double T) { return predicted_degree(c.kind, c.eps, T); };
  const auto certified = [&](double T) {
    try {
      return certified_exp_polynomial(c.kind, c.eps, -1, T, c.beta_sensitivity, c.score_rms).degree;
    } catch (const InvalidArgument&) {  // no degree meets eps on this range
      return -1;
    }
  };
  OutlierChoice best;
  const auto consider = [&](Index mq, Index mk) {
    const double product = bound(mq, mk), f = flops(mq, mk, product, predicted);
    if (best.predicted_flops == 0 || f < best.predicted_flops) best = {mq, mk, product, f, 0};
  };
  if (c.outliers >= 0) {
    const Index m = std::min<Index>(c.outliers, shape.length);
    consider(m, m);
  } else {
    const std::vector<Index> counts = outlier_counts(shape.length, kMaxOutliers);
    for (Index mq : counts)
      for (Index mk : counts) consider(mq, mk);
  }
  const double plain = bound(0, 0);
  best.predicted_flops_without = flops(0, 0, plain, predicted);
  // The predicted degree can be one off the certified one: the pairs must still
  // pay at the degrees the plan will certify, or plain poly runs.
  if (c.outliers < 0 && (best.queries || best.keys) &&
      flops(best.queries, best.keys, best.product_bound, certified) >= flops(0, 0, plain, certified))
    best = {0, 0, plain, best.predicted_flops_without, best.predicted_flops_without};
  return best;
}

bool outliers_never_pay(const ProblemShape& shape, double T_used, const std::vector<Index>& counts,
                        const std::function<double(std::size_t, std::size_t)>& log2_bulk_floor, const PolyConfig& c) {
  if (c.outliers >= 0 || c.degree >= 0) return false;
  // choose_outliers' flops for counts at degree g.
  const auto flops = [&](Index mq, Index mk, int g) {
    const Cost exact = exact_pairs_cost(shape, mq, mk, c);
    return poly_flops(shape, monomial_rank(shape.width, g), c) + kGatheredFlopWeight * (exact.flops + kExpFlops * exact.exps);
  };
  // None is predicted at most at T_used's degree (its range is min(T_used, T_used q(0) k(0))).
  const int plain_degree = predicted_degree(c.kind, c.eps, T_used);
  if (plain_degree < 0) return false;
  const double plain = flops(0, 0, plain_degree);
  std::vector<double> reach(static_cast<std::size_t>(plain_degree));
  for (int g = 0; g < plain_degree; ++g) reach[static_cast<std::size_t>(g)] = degree_reach(c.kind, c.eps, g);
  const double log_range = std::log2(T_used);
  for (std::size_t a = 0; a < counts.size(); ++a)
    for (std::size_t b = 0; b < counts.size(); ++b) {
      if (a + b == 0) continue;
      // predicted_degree of the pair's least range, or plain_degree when none below it serves.
      const double t = std::exp2(std::min(log_range, log2_bulk_floor(a, b)));
      int g = 0;
      while (g < plain_degree && t > reach[static_cast<std::size_t>(g)]) ++g;
      if (g < plain_degree && flops(counts[a], counts[b], g) < plain) return false;
    }
  return true;
}

std::optional<OutlierChoice> outliers_cannot_pay(const ProblemShape& shape, double T_used, const PolyConfig& c) {
  if (c.outliers >= 0) return std::nullopt;
  const Index m = std::min<Index>(8, shape.length / 2);
  const int g = c.degree >= 0 ? c.degree : predicted_degree(c.kind, c.eps, T_used);
  if (g < 0) return std::nullopt;
  const double plain = poly_flops(shape, monomial_rank(shape.width, g), c);
  if (m >= 8) {
    const Cost q = exact_pairs_cost(shape, m, 0, c), k = exact_pairs_cost(shape, 0, m, c);
    const double cheapest = kGatheredFlopWeight * std::min(q.flops + kExpFlops * q.exps, k.flops + kExpFlops * k.exps);
    const int floor_degree = c.degree >= 0 ? c.degree : 0;
    if (poly_flops(shape, monomial_rank(shape.width, floor_degree), c) + cheapest < plain) return std::nullopt;
  }
  return OutlierChoice{0, 0, 1.0, plain, plain};
}

template LongestRows longest_rows(const Matrix<float>&, Index);
template LongestRows longest_rows(const Matrix<double>&, Index);

}  // namespace lorafgc::lora::detail
