// The polynomial method's attention on Q, K, V: one polynomial certified on
// the certified range of every sequence's scores, its monomial features
// through the chained low-rank attention (chained_attention.hpp), and the
// a-priori error bounds of docs/attention-backend.md ("The polynomial method").
#include <lorafgc/core/errors.hpp>

#include "lora/common/row_major.hpp"
#include "lora/poly/bulk_range.hpp"
#include "lora/poly/chained_attention.hpp"
#include "lora/poly/error_bound.hpp"
#include "lora/poly/outlier_rows.hpp"
#include "lora/poly/poly.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

namespace lorafgc::lora {

namespace {

using detail::ConstRows;
using Index = Eigen::Index;

// One polynomial for all sequences, certified on their certified range.
template <class T>
struct AttentionPlan {
  detail::CertifiedRange range;  // T_used: the polynomial's interval, which contains the data's
  double T_data = 0;             // the data's certified range
  PolyPlan plan;
  double eval_error = 0, eta = 0;  // eta: relative error of the softmax entries
  bool certified = false;
  // poly-hybrid: the rows taken exactly per sequence, the choice and the bulk's range.
  std::vector<detail::ExactRows> exact_rows;
  detail::OutlierChoice choice;
  double T_bulk = 0;
  bool hybrid = false;         // exact rows taken
  bool reports_rows = false;   // poly-hybrid: info has the counts, 0 when none pay
  std::unique_ptr<detail::MonomialFeatureMap<T>> features;
  detail::ChainedAttention<T> chained;

  void report(AttentionInfo& info) const {
    detail::report_attention_range(info, range, T_data, static_cast<double>(plan.rank));
    info["degree"] = plan.polynomial.degree;
    info["T"] = plan.score_bound;
    info["poly_error"] = plan.polynomial.certified_error;
    info["eval_error"] = eval_error;
    info["certified"] = certified;
    if (!reports_rows) return;
    info["outlier_queries"] = static_cast<double>(choice.queries);
    info["outlier_keys"] = static_cast<double>(choice.keys);
    info["T_bulk"] = T_bulk;
  }
};

// With the exact rows chosen: T_bulk, the bulk's bound (bulk_range.hpp), and
// T_centred the same over all rows (the rounding bounds read it); with
// centring, every sequence's keys re-centred on its bulk.
template <class T>
void bound_bulk(AttentionPlan<T>& a, const AttentionShape& s, const std::vector<detail::SequenceRows<T>>& rows,
                const T* k, bool recentre) {
  const Index L = s.length, d = s.head_dim;
  double bulk = 0, all = 0;
  for (std::size_t seq = 0; seq < rows.size(); ++seq) {
    const Matrix<T> K = ConstRows<T>(k + static_cast<Index>(seq) * L * d, L, d);
    const detail::BulkBound b =
        detail::sequence_bulk_bound(rows[seq].Q, K, a.exact_rows[seq], a.range.centres[seq], recentre);
    bulk = std::max(bulk, b.bulk);
    all = std::max(all, b.all);
  }
  const double margin = detail::bulk_bound_margin<T>(d);
  a.T_bulk = std::max(std::abs(s.scale) * bulk * margin, 1e-3);
  a.range.T_centred = std::abs(s.scale) * all * margin;
}

// poly-hybrid's rows (outlier_rows.hpp): the longest scaled queries and keys of
// every sequence, counts chosen with the cost model of the LoRA problem of the
// same shape (the chained sweeps and pairs it counts are those attention runs).
template <class T>
void choose_exact_rows(AttentionPlan<T>& a, const AttentionShape& s, const std::vector<detail::SequenceRows<T>>& rows,
                       const T* k, const ProblemShape& shape, const PolyConfig& c) {
  a.T_bulk = a.T_data;
  if (const auto none = detail::outliers_cannot_pay(shape, a.T_data, c)) {
    a.choice = *none;
    return;
  }
  const Index most = c.outliers >= 0 ? c.outliers : std::min<Index>(detail::kMaxOutliers, s.length / 2);
  const Index L = s.length, d = s.head_dim;
  std::vector<detail::LongestRows> queries, keys;
  for (std::size_t seq = 0; seq < rows.size(); ++seq) {
    queries.push_back(detail::longest_rows(detail::scaled_queries<T>(rows[seq].Q, a.range), most));
    const Matrix<T> K = ConstRows<T>(k + static_cast<Index>(seq) * L * d, L, d);
    keys.push_back(detail::farthest_keys(K, a.range, seq, c.centre, most));
  }
  a.choice = detail::choose_outliers(shape, a.T_data, std::numeric_limits<T>::epsilon() / 2, queries, keys, c);
  if (a.choice.queries + a.choice.keys == 0) return;
  for (std::size_t seq = 0; seq < rows.size(); ++seq)
    a.exact_rows.push_back(detail::exact_rows_of(queries[seq], keys[seq], a.choice));
  const detail::CertifiedRange before = a.range;
  bound_bulk(a, s, rows, k, c.centre);
  // A bulk range no narrower than the data's (the bound is Cauchy-Schwarz's,
  // the data's range the exact search's): plain poly-cheb does no worse.
  if (a.T_bulk >= a.T_data) {
    a.range = before;
    a.T_bulk = a.T_data;
    a.exact_rows.clear();
    a.choice = detail::OutlierChoice{0, 0, 1.0, a.choice.predicted_flops_without, a.choice.predicted_flops_without};
  }
}

template <class T>
std::unique_ptr<AttentionPlan<T>> plan_attention(const AttentionShape& s, const T* q, const T* k,
                                                 const PolyConfig& c) {
  auto a = std::make_unique<AttentionPlan<T>>();
  const auto rows = detail::attention_rows(s, q, k, c.centre);
  a->range = detail::certified_range(rows, s.scale, {c.centre, c.range_rows});
  a->T_data = a->range.T_used;
  ProblemShape shape;
  shape.batch = s.sequences();
  shape.length = s.length;
  shape.width = s.head_dim;
  shape.rank = s.head_dim;  // as attention_problem_shape: the Kronecker products are k d x d
  shape.adapted = {true, true, true};
  shape.score_bound = a->T_data;
  a->T_bulk = a->T_data;
  if (c.hybrid) choose_exact_rows(*a, s, rows, k, shape, c);
  a->hybrid = !a->exact_rows.empty();
  a->reports_rows = c.hybrid;
  a->plan = plan_poly(shape, a->T_bulk, sizeof(T), c);
  const double u = std::numeric_limits<T>::epsilon() / 2;
  // The features serve the bulk's pairs only (hybrid): sum_a |Q^_ia K^_ja| <= ||Q^_i|| ||K^_j||.
  a->range.T_used = a->plan.score_bound;
  const double rho = a->hybrid ? a->T_bulk / a->plan.score_bound : a->range.feature_product_bound();
  // Hybrid: each row's features are also scaled by a rounded exp(-shift_i) (3u; chained_attention.cpp).
  a->eval_error = (a->hybrid ? std::max(feature_rounding<T>(a->plan, rho) + 3 * u,
                                        exact_pair_rounding<T>(a->range.T_centred, static_cast<double>(s.head_dim)))
                             : feature_rounding<T>(a->plan, rho)) +
                  a->range.centring_error(u);
  a->certified = a->plan.polynomial.certified_error + a->eval_error < 1;
  a->eta = softmax_relative_error(a->plan.polynomial.certified_error + a->eval_error);
  a->features = std::make_unique<detail::MonomialFeatureMap<T>>(static_cast<int>(s.head_dim),
                                                                 a->plan.polynomial.degree, a->plan.polynomial.scaled);
  a->chained = {&a->range, a->features.get(), static_cast<Index>(c.block_rows), c.threads,
                "poly attention (degree " + std::to_string(a->plan.polynomial.degree) + ", T = " +
                    std::to_string(a->plan.score_bound) + "; raise the degree or use float64)",
                a->hybrid ? &a->exact_rows : nullptr};
  return a;
}

template <class T>
double max_abs(const T* x, long long n) {
  double m = 0;
  for (long long i = 0; i < n; ++i) m = std::max(m, std::abs(static_cast<double>(x[i])));
  return m;
}

// The bounds on |dQ~ - dQ|, |dK~ - dK|, |dV~ - dV| of one sequence, from its
// largest column sum of F~; G_i = ||dO_i|| max_j ||V_j||.
template <class T>
std::array<double, 3> backward_bounds(const AttentionShape& s, const AttentionBackwardIO<T>& io,
                                      const AttentionPlan<T>& a, Index seq, double column_sum) {
  const Index L = s.length, d = s.head_dim, at = seq * L * d;
  const auto Q = ConstRows<T>(io.q + at, L, d), K = ConstRows<T>(io.k + at, L, d), V = ConstRows<T>(io.v + at, L, d),
             dO = ConstRows<T>(io.d_out + at, L, d);
  const Eigen::VectorXd G = dO.template cast<double>().rowwise().norm() * V.template cast<double>().rowwise().norm().maxCoeff();
  const Eigen::RowVectorXd c = a.range.centres[static_cast<std::size_t>(seq)].transpose();
  const double eta = a.eta, scale = std::abs(s.scale);
  const double kc_max = (K.template cast<double>().rowwise() - c).cwiseAbs().maxCoeff();
  return {3 * scale * eta * G.maxCoeff() * kc_max,
          scale * eta * (3 + 2 * eta) * column_sum * (G.asDiagonal() * Q.template cast<double>().cwiseAbs()).maxCoeff(),
          eta * (1 + eta) * column_sum * dO.template cast<double>().cwiseAbs().maxCoeff()};
}

}  // namespace

template <class T>
void poly_attention_forward(const AttentionShape& shape, const AttentionForwardIO<T>& io, const PolyConfig& c) {
  const auto a = plan_attention(shape, io.q, io.k, c);
  detail::chained_attention_forward(shape, io, a->chained);
  if (!io.info) return;
  a->report(*io.info);
  // |O~ - O| <= eta max_j |V_jc|: F~_ij / F_ij lies in [1/(1 + eta), 1 + eta].
  if (a->certified) (*io.info)["error_bound_out"] = a->eta * max_abs(io.v, shape.elements());
}

template <class T>
void poly_attention_backward(const AttentionShape& shape, const AttentionBackwardIO<T>& io, const PolyConfig& c) {
  const auto a = plan_attention(shape, io.q, io.k, c);
  const std::vector<double> column_sums = detail::chained_attention_backward(shape, io, a->chained);
  if (!io.info) return;
  a->report(*io.info);
  if (!a->certified) return;
  std::array<double, 3> bound{0, 0, 0};
  for (Index seq = 0; seq < shape.sequences(); ++seq) {
    const auto b = backward_bounds(shape, io, *a, seq, column_sums[static_cast<std::size_t>(seq)]);
    for (int i = 0; i < 3; ++i) bound[i] = std::max(bound[i], b[i]);
  }
  (*io.info)["error_bound_dq"] = bound[0];
  (*io.info)["error_bound_dk"] = bound[1];
  (*io.info)["error_bound_dv"] = bound[2];
}

template <class T>
Cost poly_attention_cost(const ProblemShape& problem_shape, const AttentionShape& shape, const T* q, const T* k,
                         const PolyConfig& c) {
  const auto a = plan_attention(shape, q, k, c);
  Cost cost = poly_cost(problem_shape, a->plan.rank, sizeof(T), c);
  if (a->hybrid) add_exact_pairs(cost, exact_pairs_cost(problem_shape, a->choice.queries, a->choice.keys, c));
  return cost;
}

template Cost poly_attention_cost(const ProblemShape&, const AttentionShape&, const float*, const float*,
                                  const PolyConfig&);
template Cost poly_attention_cost(const ProblemShape&, const AttentionShape&, const double*, const double*,
                                  const PolyConfig&);
template void poly_attention_forward(const AttentionShape&, const AttentionForwardIO<float>&, const PolyConfig&);
template void poly_attention_forward(const AttentionShape&, const AttentionForwardIO<double>&, const PolyConfig&);
template void poly_attention_backward(const AttentionShape&, const AttentionBackwardIO<float>&, const PolyConfig&);
template void poly_attention_backward(const AttentionShape&, const AttentionBackwardIO<double>&, const PolyConfig&);

}  // namespace lorafgc::lora
