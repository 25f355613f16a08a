// The polynomial-method gradients: one polynomial for the batch (poly-hybrid:
// on the range its outliers leave), the chained pass of chained_gradients.hpp
// with its monomial features, and the a-priori error bound.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/lora/plan_memo.hpp>

#include "lora/common/certified_range.hpp"
#include "lora/common/contracted_gradients.hpp"
#include "lora/common/shard_collectives.hpp"
#include "lora/common/thin_products.hpp"
#include "lora/poly/bulk_range.hpp"
#include "lora/poly/chained_gradients.hpp"
#include "lora/poly/error_bound.hpp"
#include "lora/poly/outlier_rows.hpp"
#include "lora/poly/poly.hpp"
#include "lora/poly/range_floor.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

namespace lorafgc::lora {

namespace {

using detail::Index;
using detail::memo_get_or;

// The a-priori bound of error_bound.hpp for one sequence.
// With comm, X and f hold this process's rows and B the whole sequence's sums.
template <class T>
double sequence_error_bound(const Problem<T>& p, const Matrix<T>& X, const detail::SequenceFactors<T>& f,
                            const detail::QuerySums<T>& B, double eta, bool weights, Collectives* comm) {
  PolyBoundInputs in;
  in.eta = eta;
  in.weights = weights;
  in.beta = std::abs(p.beta);
  in.scale = std::abs(p.scale());
  in.X_max = static_cast<double>(X.cwiseAbs().maxCoeff());
  in.K_max = static_cast<double>(f.K.cwiseAbs().maxCoeff());
  if (comm) in.X_max = detail::max_all(in.X_max, *comm), in.K_max = detail::max_all(in.K_max, *comm);
  in.Xz = B.Xz.maxCoeff();
  in.Qz = B.Qz.maxCoeff();
  in.Rs = B.Rs.maxCoeff();
  for (Projection mu : kProjections)
    if (const auto& a = p.adapter[index(mu)]) {
      in.adapted[index(mu)] = true;
      in.A_row_l1[index(mu)] = static_cast<double>(a->A.cwiseAbs().rowwise().sum().maxCoeff());
      in.B_col_l1[index(mu)] = static_cast<double>(a->B.cwiseAbs().colwise().sum().maxCoeff());
    }
  return poly_gradient_error_bound(in);
}


// poly-hybrid's outliers: the longest rows of every sequence's scaled Q^, K^
// (to T_used), and the counts the cost model picks (outlier_rows.hpp).
template <class T>
struct Outliers {
  std::vector<detail::LongestRows> queries, keys;
  detail::OutlierChoice choice;
  std::vector<Matrix<T>> K;  // every sequence's X W_k, uncentred, until the bulk is bounded
};

// The queries are the range's rows (rows[b].Q) and the keys formed as they
// were (thin_times_small, before centring): the rows the floors read
// (poly_cost_floors) and the features the run forms (make_factors), bit for bit.
template <class T>
Outliers<T> find_outliers(const Problem<T>& p, const std::vector<detail::SequenceRows<T>>& rows,
                          const std::array<Matrix<T>, 3>& W, const detail::CertifiedRange& range,
                          const ProblemShape& shape, const PolyConfig& c) {
  Outliers<T> out;
  if (const auto none = detail::outliers_cannot_pay(shape, range.T_used, c)) {
    out.choice = *none;
    return out;
  }
  const Index most = c.outliers >= 0 ? c.outliers : std::min<Index>(detail::kMaxOutliers, p.length() / 2);
  for (std::size_t b = 0; b < p.X.size(); ++b) {
    const Matrix<T>& K = out.K.emplace_back(detail::thin_times_small(p.X[b], W[index(Projection::K)]));
    out.queries.push_back(detail::longest_rows(detail::scaled_queries<T>(rows[b].Q, range), most));
    out.keys.push_back(detail::farthest_keys(K, range, b, c.centre, most));
  }
  out.choice = detail::choose_outliers(shape, range.T_used, std::numeric_limits<T>::epsilon() / 2, out.queries,
                                       out.keys, c);
  return out;
}

// What a run plans before it allocates: the certified range, poly-hybrid's
// outliers, the range the polynomial covers and its plan (degree, rank, counts).
template <class T>
struct InstancePlan {
  detail::CertifiedRange data_range;
  detail::CertifiedRange feature_range;  // the data's, or re-centred on the bulk (hybrid)
  Outliers<T> outliers;
  double bulk_range = 0;
  PolyPlan plan;
  bool hybrid() const { return outliers.choice.queries + outliers.choice.keys > 0; }
};

// poly-hybrid with its counts chosen: the bulk's range and centres (bulk_range.hpp)
// from the exact rows of every sequence; none taken when that range is no narrower
// than the data's (the bound is Cauchy-Schwarz's, the data's range the exact
// search's: plain poly-cheb does no worse).
template <class T>
void bound_bulk(InstancePlan<T>& out, const Problem<T>& p, const std::vector<detail::SequenceRows<T>>& rows,
                bool recentre) {
  Outliers<T>& o = out.outliers;
  const detail::OutlierChoice& choice = o.choice;
  double bulk = 0, all = 0;
  for (std::size_t b = 0; b < p.X.size(); ++b) {
    const detail::BulkBound bound =
        detail::sequence_bulk_bound(rows[b].Q, o.K[b], detail::exact_rows_of(o.queries[b], o.keys[b], choice),
                                    out.feature_range.centres[b], recentre);
    bulk = std::max(bulk, bound.bulk);
    all = std::max(all, bound.all);
  }
  const double margin = detail::bulk_bound_margin<T>(p.width());
  out.bulk_range = std::max(std::abs(p.beta) * bulk * margin, std::min(out.data_range.T_used, 1e-3));
  out.feature_range.T_centred = std::abs(p.beta) * all * margin;
  if (out.bulk_range < out.data_range.T_used) return;
  out.feature_range = out.data_range;
  out.bulk_range = out.data_range.T_used;
  out.outliers.choice = detail::OutlierChoice{0, 0, 1.0, choice.predicted_flops_without, choice.predicted_flops_without};
}

// The plan memo's key of the certified range for c's range options.
std::string range_memo_key(const PolyConfig& c, std::size_t scalar_bytes) {
  return "poly-range|" + std::to_string(scalar_bytes) + "|" + std::to_string(c.centre) + "|" +
         std::to_string(c.range_rows);
}

template <class T>
InstancePlan<T> plan_instance(const Problem<T>& p, const ProblemShape& shape, const std::array<Matrix<T>, 3>& W,
                              const PolyConfig& c) {
  InstancePlan<T> out;
  // One polynomial for the batch, certified on [-T_used, T_used]: every
  // sequence's scores, shifted per row, are scaled by the batch-wide T_used.
  // Shared by every configuration with the same range options in a plan memo.
  const std::string range_key = range_memo_key(c, sizeof(T));
  const auto rows = detail::memoized_rows(p, c.centre);
  out.data_range = *detail::memo_get_or_shared<detail::CertifiedRange>(
      &p, range_key, [&] { return detail::certified_range(*rows, p.beta, {c.centre, c.range_rows}); });
  out.feature_range = out.data_range;
  out.bulk_range = out.data_range.T_used;
  // poly-hybrid: the polynomial covers only the pairs the outliers leave.
  if (c.hybrid) out.outliers = find_outliers(p, *rows, W, out.data_range, shape, c);
  if (out.hybrid()) bound_bulk(out, p, *rows, c.centre && c.recentre);
  out.outliers.K.clear();  // not kept in the plan memo
  out.plan = plan_poly(shape, out.bulk_range, sizeof(T), c);
  return out;
}

// The whole plan, once per configuration inside a plan memo (auto's plan and
// the run of its choice): every field that changes what plan_instance returns.
template <class T>
InstancePlan<T> memoized_plan(const Problem<T>& p, const ProblemShape& shape, const std::array<Matrix<T>, 3>& W,
                              const PolyConfig& c) {
  // The fields' bytes: formatting them (%.17g) was a tenth of auto's plan at L = 512.
  std::string key = "poly-plan|" + std::to_string(sizeof(T)) + "|";
  const auto add = [&](const auto& field) { key.append(reinterpret_cast<const char*>(&field), sizeof field); };
  add(c.kind), add(c.eps), add(c.degree), add(c.contract), add(c.weights), add(c.centre), add(c.range_rows);
  add(c.block_rows), add(c.hybrid), add(c.outliers), add(c.recentre), add(c.threads);
  add(c.memory_budget_bytes), add(c.beta_sensitivity), add(c.score_rms);  // the degree reads both
  return *memo_get_or<InstancePlan<T>>(&p, key, [&] { return plan_instance(p, shape, W, c); });
}

ProblemShape run_shape(const ProblemShape& of_problem, const PolyConfig& c) {
  ProblemShape shape = of_problem;
  shape.weights = c.weights;
  return shape;
}

}  // namespace

template <class T>
Cost poly_instance_cost(const Problem<T>& p, const ProblemShape& problem_shape, const PolyConfig& c) {
  const ProblemShape shape = run_shape(problem_shape, c);
  const InstancePlan<T> planned = memoized_plan(p, shape, detail::effective_weights(p), c);
  Cost cost = poly_cost(shape, planned.plan.rank, sizeof(T), c);
  if (planned.hybrid())
    add_exact_pairs(cost, exact_pairs_cost(shape, planned.outliers.choice.queries, planned.outliers.choice.keys, c));
  return cost;
}

namespace {

// The degree certified on the grid value 2^(j/64): no more than a range
// at or above it needs (a wider interval needs no smaller degree;
// test_cost_floors.cpp checks it on the grid), certified once per grid value
// for the process, and kept per thread by (kind, eps, j): poly-hybrid's floors
// ask for 50-170 ranges per plan, and copying the certified polynomial out of
// the shared cache each time was most of their 13 us at L = 512. -1: no
// degree meets eps there (nor on any wider range).
int degree_at_grid(const PolyConfig& c, int j) {
  if (c.degree >= 0) return c.degree;
  if (j == std::numeric_limits<int>::min()) return 0;  // a range of 0
  thread_local std::map<std::tuple<int, double, int>, int> degrees;
  const auto key = std::make_tuple(static_cast<int>(c.kind), c.eps, j);
  if (const auto it = degrees.find(key); it != degrees.end()) return it->second;
  int g = -1;
  try {
    // Without the temperature term (beta_sensitivity): it can only raise the
    // degree, and a floor must stay below the cost.
    g = certified_exp_polynomial(c.kind, c.eps, -1, std::exp2(j / 64.0)).degree;
  } catch (const InvalidArgument&) {
  }
  return degrees[key] = g;
}

// A floor under the re-centred bulk's key radius per sequence and count
// ([sequence][count index]): the larger of bulk_key_radius_floor (any centre)
// and bulk_mean_radius_floor (the bulk's mean, as the plan re-centres), once
// per problem and counts in the plan memo.
template <class T>
std::shared_ptr<const std::vector<std::vector<double>>> bulk_key_floors(
    const Problem<T>& p, const std::vector<detail::SequenceRows<T>>& rows, const std::vector<Index>& counts) {
  std::string key = "poly-floor-keys|" + std::to_string(sizeof(T));
  for (Index m : counts) key += "|" + std::to_string(m);
  return memo_get_or<std::vector<std::vector<double>>>(&p, key, [&] {
    std::vector<std::vector<double>> out;
    for (const detail::SequenceRows<T>& r : rows) {
      std::vector<double> floors = detail::bulk_key_radius_floor(r.Kc, counts);
      const std::vector<double> around_mean = detail::bulk_mean_radius_floor(r, counts);
      for (std::size_t i = 0; i < floors.size(); ++i) floors[i] = std::max(floors[i], around_mean[i]);
      out.push_back(std::move(floors));
    }
    return out;
  });
}

// The grid index at or below a range given by its log2, nudged down so that
// rounding in forming log2 never lifts the grid value above the range.
// On the certification's grid (2^(j/64)), or on every eighth of its values
// (coarse): poly-hybrid's 49-144 pairs of counts share more of those, and the
// degree's lookups were a tenth of a plan at L = 512, d = 4 on the fine grid.
int grid_at_or_below(double log2_range, bool coarse = false) {
  if (!(log2_range > -1e300)) return std::numeric_limits<int>::min();
  return coarse ? 8 * static_cast<int>(std::floor(8 * log2_range - 1e-9))
                : static_cast<int>(std::floor(64 * log2_range - 1e-9));
}

}  // namespace

namespace {

// log2 of each sequence's query and key norm floors at every outlier count
// (q(m), k(m)), and from them the floor of the bulk bound a pair of counts
// leaves: |beta| times the largest q(m_q) k(m_k) over the sequences. The logs
// are taken once per count, not per pair: a bucket search and a log2 per pair
// were half of the floors at L = 512, d = 4 (49 pairs).
class LogNormFloors {
 public:
  template <class QueryFloor, class KeyFloor>
  LogNormFloors(std::size_t sequences, std::size_t counts, double beta, const QueryFloor& query_floor,
                const KeyFloor& key_floor)
      : counts_(counts), log_beta_(std::log2(std::abs(beta))) {
    for (std::size_t r = 0; r < sequences; ++r)
      for (std::size_t i = 0; i < counts; ++i) {
        log_q_.push_back(std::log2(query_floor(r, i)));
        log_k_.push_back(std::log2(key_floor(r, i)));
      }
  }
  // log2 of the bulk bound's floor with m_q = counts[a], m_k = counts[b].
  double bulk(std::size_t a, std::size_t b) const {
    double log_product = -std::numeric_limits<double>::infinity();
    for (std::size_t r = 0; r < log_q_.size(); r += counts_)
      log_product = std::max(log_product, log_q_[r + a] + log_k_[r + b]);
    return log_beta_ + log_product;
  }

 private:
  std::size_t counts_;
  double log_beta_;
  std::vector<double> log_q_, log_k_;  // [sequence * counts + count index]
};

// outliers_never_pay on the norm buckets. The choice ranks the keys centred on
// their mean (farthest_keys), the buckets hold them centred on the range's
// centre c (the mean or the bounding box's middle): ||K_j - mean|| >=
// ||K_j - c|| - key_mean_offset. Both sides are scaled in T there: the
// buckets' lower edges are lowered by a rounding allowance of those norms.
// (The offset from the rows: the mean of K - c in double, an L x d copy, was
// most of these floors' 13 us at L = 4096, d = 4.)
template <class T>
bool never_pays_on_buckets(const Problem<T>& p, const std::vector<detail::SequenceRows<T>>& rows,
                           const ProblemShape& shape, double T_used, const std::vector<Index>& counts,
                           const PolyConfig& c) {
  const double slack = 8 * (static_cast<double>(p.width()) + 4) * std::numeric_limits<T>::epsilon();
  std::vector<double> allowance;
  for (const detail::SequenceRows<T>& r : rows)
    allowance.push_back(r.key_mean_offset + slack * (r.keys.max_norm() + r.centre.norm()));
  const LogNormFloors floors(
      rows.size(), counts.size(), p.beta,
      [&](std::size_t r, std::size_t i) { return rows[r].queries.at_least_at(counts[i]) * (1 - slack); },
      [&](std::size_t r, std::size_t i) {
        return std::max(0.0, rows[r].keys.at_least_at(counts[i]) * (1 - slack) - allowance[r]);
      });
  return detail::outliers_never_pay(shape, T_used, counts,
                                    [&](std::size_t a, std::size_t b) { return floors.bulk(a, b); }, c);
}

}  // namespace

template <class T>
std::vector<Cost> poly_cost_floors(const Problem<T>& p, const ProblemShape& problem_shape, const PolyConfig& c) {
  const ProblemShape shape = run_shape(problem_shape, c);
  const auto cost_at = [&](int g) {
    if (g < 0) throw InvalidArgument("eps", "no degree meets eps on the floor's range");
    return poly_cost(shape, monomial_rank(shape.width, g), sizeof(T), c);
  };
  if (c.degree >= 0) return {cost_at(c.degree)};  // the rank does not depend on the data (the pairs only add)
  const auto rows = detail::memoized_rows(p, c.centre);
  const double spread =
      *memo_get_or<double>(&p, "poly-floor|" + std::to_string(sizeof(T)) + "|" + std::to_string(c.centre),
                           [&] { return detail::range_floor(*rows, p.beta); });
  const double log_spread = spread > 0 ? std::log2(spread) : -std::numeric_limits<double>::infinity();
  const double inf = std::numeric_limits<double>::infinity();
  const Cost refused{inf, inf, inf, FlopKind::thin_gemm, static_cast<double>(shape.length) * shape.batch};
  try {
    if (!c.hybrid) return {cost_at(degree_at_grid(c, grid_at_or_below(log_spread)))};
    // The outlier counts the floors try.
    const std::vector<Index> counts =
        c.outliers > 0   ? std::vector<Index>{0, std::min<Index>(c.outliers, shape.length)}
        : c.outliers < 0 ? detail::outlier_counts(shape.length, detail::kMaxOutliers)
                         : std::vector<Index>{0};
    const std::size_t n = counts.size();
    // Centred with recentre, the plan re-centres the keys on their bulk's mean (bound_bulk):
    // the bulk keys may lie closer to it than the data centre's norms say, so
    // past m_k = 0 their floor is bulk_key_floors'.
    const auto key_floors = c.centre && c.recentre ? bulk_key_floors(p, *rows, counts) : nullptr;
    const LogNormFloors floors(
        rows->size(), n, p.beta,
        [&](std::size_t r, std::size_t i) { return (*rows)[r].queries.at_least_at(counts[i]); },
        [&](std::size_t r, std::size_t i) {
          return key_floors && counts[i] > 0 ? (*key_floors)[r][i] : (*rows)[r].keys.at_least_at(counts[i]);
        });
    const double log_least = std::min(log_spread, std::log2(1e-3));
    // Once the plan memo holds the certified range (poly-cheb costed first), a
    // pair whose bulk bound reaches T_used takes no outliers (bound_bulk: the
    // bulk's norms are at least these floors), so it is the plain case.
    const auto range = std::static_pointer_cast<const detail::CertifiedRange>(
        detail::memo_find(&p, range_memo_key(c, sizeof(T))));
    const double log_range = range ? std::log2(range->T_used) : std::numeric_limits<double>::infinity();
    // A pair (a + b > 0) is plain when its bound reaches T_used; its degree
    // floor reads the same bound.
    const auto plain = [&](double bound) { return bound >= log_range; };
    // The degree floor of plan_instance's bulk range for counts (m_q, m_k):
    // max(min(T_used, |beta| q(m_q) k(m_k)), min(T_used, 1e-3)), T_used >= spread
    // (T_used itself when that is no narrower: no rows are then taken).
    auto degree = [&, last_grid = 0, last_degree = -2](std::size_t a, std::size_t b, double bound) mutable {
      const double cap = range ? log_range : log_spread;
      const int j = a + b ? grid_at_or_below(std::max(std::min(cap, bound), log_least), true)
                          : grid_at_or_below(log_spread);
      if (last_degree == -2 || j != last_grid) last_grid = j, last_degree = degree_at_grid(c, j);
      return last_degree;
    };
    // A pair whose range no degree certifies (-1: nor any wider range) gives no
    // floor: the run with those counts would be refused. The plain case's floor
    // comes first, infinite when refused (Registration::plain_form: with no
    // outliers poly-hybrid is poly-cheb); the others bound every case with outliers.
    std::vector<Cost> out{refused};
    const auto add_floor = [&](std::size_t a, std::size_t b, int g) {
      if (g < 0) return;
      Cost x = cost_at(g);
      add_exact_pairs(x, exact_pairs_cost(shape, counts[a], counts[b], c));
      if (a + b == 0) out.front() = x;
      else out.push_back(x);
    };
    if (c.outliers > 0) {
      // The plan drops fixed counts too when the bulk's range is no narrower (bound_bulk).
      add_floor(0, 0, degree(0, 0, 0));
      if (const double bound = floors.bulk(1, 1); !plain(bound)) add_floor(1, 1, degree(1, 1, bound));
    } else if (range && c.outliers < 0 && never_pays_on_buckets(p, *rows, shape, range->T_used, counts, c)) {
      // The run's own choice takes none (choose_outliers' rule on these floors): every
      // run is the plain case. At adversarial T = 1, L = 2048, d = 4 auto's plan ranked
      // the rows to take none, 175 us of its 0.6 ms choice.
      add_floor(0, 0, degree(0, 0, 0));
    } else {
      // A pair whose degree floor a pair with one count fewer reaches as well is
      // no floor: the same polynomial, more exact pairs. With the logs above, the
      // floors at L = 512, d = 4 (49 pairs) took 7.6 -> 3.3 us warm (5 costed).
      // A plain pair reaching it does not count: the pairs with outliers need
      // floors of their own.
      std::vector<int> degrees(n * n);
      std::vector<char> plains(n * n);
      const auto below = [&](std::size_t a, std::size_t b, int here) {
        return plains[a * n + b] || here < degrees[a * n + b];
      };
      for (std::size_t a = 0; a < n; ++a)
        for (std::size_t b = 0; b < n; ++b) {
          const double bound = a + b ? floors.bulk(a, b) : 0;
          plains[a * n + b] = a + b == 0 || plain(bound);
          if (a + b && plains[a * n + b]) continue;
          const int g = degree(a, b, bound);
          degrees[a * n + b] = g < 0 ? std::numeric_limits<int>::max() : g;
          const int here = degrees[a * n + b];
          if (a + b == 0 || ((a == 0 || below(a - 1, b, here)) && (b == 0 || below(a, b - 1, here))))
            add_floor(a, b, g);
        }
    }
    return out;
  } catch (const InvalidArgument&) {  // plain: no degree meets eps even on the floor's range, nor on T_used
  }
  return {refused};
}

namespace {

// The run of a plan: the features, the chained pass (with comm: this process's
// rows, its sums reduced; the contracted products summed at the end) and info.
template <class T>
Gradients<T> run_plan(const Problem<T>& p, const PolyConfig& c, const ProblemShape& shape,
                      const std::array<Matrix<T>, 3>& W, InstancePlan<T> planned, Collectives* comm) {
  const detail::CertifiedRange& data_range = planned.data_range;
  const Outliers<T>& outliers = planned.outliers;
  const detail::OutlierChoice& choice = outliers.choice;
  const bool hybrid = planned.hybrid();
  const double bulk_range = planned.bulk_range;
  PolyPlan& plan = planned.plan;
  if (hybrid) {
    const Cost pairs = exact_pairs_cost(shape, choice.queries, choice.keys, c);
    plan.flops += pairs.flops;
    plan.bytes += exact_pairs_workspace_bytes(shape, choice.queries, choice.keys, sizeof(T), c);
  }
  // The features are scaled to the polynomial's interval, which contains the data's (hybrid: the bulk's).
  detail::CertifiedRange range = planned.feature_range;
  range.T_used = plan.score_bound;
  const detail::MonomialFeatureMap<T> features(static_cast<int>(p.width()), plan.polynomial.degree,
                                                plan.polynomial.scaled);
  const double u = std::numeric_limits<T>::epsilon() / 2;
  // The features serve the bulk's pairs only: sum_a |Q^_ia K^_ja| <= ||Q^_i|| ||K^_j||.
  const double rho = hybrid ? bulk_range / plan.score_bound : range.feature_product_bound();
  const double eval_error =
      (hybrid ? std::max(feature_rounding<T>(plan, rho) + 3 * u,
                         exact_pair_rounding<T>(range.T_centred, static_cast<double>(p.width())))
              : feature_rounding<T>(plan, rho)) +
      range.centring_error(u);
  // A relative error e >= 1 of the exp entries certifies nothing (a fixed low
  // degree, or feature rounding in float at a huge rank): no bound is reported.
  const bool certified = plan.polynomial.certified_error + eval_error < 1;
  const double eta = softmax_relative_error(plan.polynomial.certified_error + eval_error);

  detail::ChainedOptions<T> o;
  o.whole = c.whole();
  o.eta = eta;
  o.block_rows = sweep_block_rows(shape, plan.rank, sizeof(T), c);
  o.threads = c.threads;
  o.method = "poly (degree " + std::to_string(plan.polynomial.degree) + ", T = " +
             std::to_string(plan.score_bound) + "; raise the degree or use float64)";
  o.comm = comm;
  o.length = shape.length;
  if (hybrid)
    o.exact_pairs = [&](Index b, const Matrix<T>& Q_hat, Matrix<T>& K_hat) {
      const auto s = static_cast<std::size_t>(b);
      return std::optional<detail::ExactPairs<T>>(std::in_place, Q_hat, K_hat, plan.score_bound,
                                                  outliers.queries[s].first(choice.queries),
                                                  outliers.keys[s].first(choice.keys));
    };
  double bound = 0;
  if (certified)
    o.after = [&](Index, const Matrix<T>& X, const detail::SequenceFactors<T>& f, const detail::QuerySums<T>& B) {
      bound += sequence_error_bound(p, X, f, B, eta, c.weights, comm) / static_cast<double>(p.batch());
    };
  detail::ContractedGradients<T> sums = detail::chained_gradients(p, W, range, features, o);
  if (comm) detail::sum_all(sums, *comm);

  Gradients<T> g = detail::assemble_gradients(p, sums, c.whole(), c.weights);
  g.info["degree"] = plan.polynomial.degree;
  g.info["rank"] = static_cast<double>(plan.rank);
  g.info["block_rows"] = static_cast<double>(o.block_rows);  // at most; the sweeps split short sequences further
  g.info["T"] = plan.score_bound;
  g.info["T_cauchy_schwarz"] = range.T_cauchy_schwarz;
  g.info["T_centred"] = range.T_centred;
  g.info["T_used"] = data_range.T_used;
  g.info["poly_error"] = plan.polynomial.certified_error;
  // What of poly_error the gradients are expected to feel (exp_polynomial.hpp).
  g.info["gradient_error_factor"] = plan.polynomial.gradient_factor;
  g.info["eval_error"] = eval_error;
  g.info["certified"] = certified;
  if (certified) g.info["error_bound"] = bound;
  g.info["workspace_bytes"] = plan.bytes;
  g.info["flops"] = plan.flops;
  if (c.hybrid) {
    g.info["outlier_queries"] = static_cast<double>(choice.queries);
    g.info["outlier_keys"] = static_cast<double>(choice.keys);
    g.info["T_bulk"] = bulk_range;
    g.info["predicted_flops"] = choice.predicted_flops;
    g.info["predicted_flops_without"] = choice.predicted_flops_without;
  }
  return g;
}

}  // namespace

template <class T>
Gradients<T> poly_gradients(const Problem<T>& p, const PolyConfig& c) {
  // No Cauchy-Schwarz bound: the degree follows the certified range (forming Q
  // and K for it again took 66 us at L = 1024, d = 32).
  const ProblemShape shape = run_shape(shape_of(p, false), c);
  const auto W = detail::effective_weights(p);
  return run_plan(p, c, shape, W, memoized_plan(p, shape, W, c), nullptr);
}

// The plan of the whole sequence, the same on every process: its certified
// range from reduced norms and centre (certified_range_shard), the polynomial
// for the whole L; then every sweep over this process's rows, with the sums
// reduced between them (chained_gradients.hpp).
template <class T>
Gradients<T> poly_gradients_shard(const Problem<T>& p, const ShardLayout& layout, Collectives& comm,
                                  const PolyConfig& c) {
  if (c.hybrid)
    throw InvalidArgument("algorithm", "poly-hybrid has no sequence-parallel form: its outliers are the longest rows "
                                       "of every process; use poly-cheb or poly-taylor");
  if (c.range_rows != 0)
    throw InvalidArgument("range_rows", "the sequence-parallel polynomial method bounds its range by "
                                        "Cauchy-Schwarz on the centred keys; pass range_rows=0");
  ProblemShape shape = run_shape(shape_of(p, false), c);
  shape.length = layout.length;
  const auto W = detail::effective_weights(p);
  InstancePlan<T> planned;
  planned.data_range = detail::certified_range_shard(p.X, W[index(Projection::Q)], W[index(Projection::K)], p.beta,
                                                     c.centre, layout.length, comm);
  planned.feature_range = planned.data_range;
  planned.bulk_range = planned.data_range.T_used;
  // Planned for the largest process's rows (its flops and workspace; the degree
  // and rank do not depend on L), the same on every process; the memory budget
  // is each process's own, so a refusal is agreed.
  ProblemShape mine = shape;
  mine.length = shard_rows(layout.length, comm.size(), 0).count;
  planned.plan = detail::agreed(comm, "the polynomial's plan",
                                [&] { return plan_poly(mine, planned.bulk_range, sizeof(T), c); });
  return run_plan(p, c, shape, W, std::move(planned), &comm);
}

template Cost poly_instance_cost(const Problem<float>&, const ProblemShape&, const PolyConfig&);
template Cost poly_instance_cost(const Problem<double>&, const ProblemShape&, const PolyConfig&);
template std::vector<Cost> poly_cost_floors(const Problem<float>&, const ProblemShape&, const PolyConfig&);
template std::vector<Cost> poly_cost_floors(const Problem<double>&, const ProblemShape&, const PolyConfig&);
template Gradients<float> poly_gradients(const Problem<float>&, const PolyConfig&);
template Gradients<double> poly_gradients(const Problem<double>&, const PolyConfig&);
template Gradients<float> poly_gradients_shard(const Problem<float>&, const ShardLayout&, Collectives&,
                                               const PolyConfig&);
template Gradients<double> poly_gradients_shard(const Problem<double>&, const ShardLayout&, Collectives&,
                                                const PolyConfig&);

}  // namespace lorafgc::lora
