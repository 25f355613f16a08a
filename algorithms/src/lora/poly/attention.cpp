// The polynomial method's attention on Q, K, V: one polynomial certified on
// the certified range of every sequence's scores, its monomial features
// through the chained low-rank attention (chained_attention.hpp), and the
// a-priori error bounds of docs/attention-backend.md ("The polynomial method").
#include <lorafgc/core/errors.hpp>

#include "lora/common/row_major.hpp"
#include "lora/poly/chained_attention.hpp"
#include "lora/poly/error_bound.hpp"
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
  std::unique_ptr<detail::MonomialFeatureMap<T>> features;
  detail::ChainedAttention<T> chained;

  void report(AttentionInfo& info) const {
    detail::report_attention_range(info, range, T_data, static_cast<double>(plan.rank));
    info["degree"] = plan.polynomial.degree;
    info["T"] = plan.score_bound;
    info["poly_error"] = plan.polynomial.certified_error;
    info["eval_error"] = eval_error;
    info["certified"] = certified;
  }
};

template <class T>
std::unique_ptr<AttentionPlan<T>> plan_attention(const AttentionShape& s, const T* q, const T* k,
                                                 const PolyConfig& c) {
  if (c.hybrid)
    throw InvalidArgument("algorithm", "'poly-hybrid' does not compute attention on Q, K, V (yet); use poly-cheb");
  auto a = std::make_unique<AttentionPlan<T>>();
  a->range = detail::certified_range(detail::attention_rows(s, q, k, c.centre), s.scale, {c.centre, c.range_rows});
  a->T_data = a->range.T_used;
  ProblemShape shape;
  shape.batch = s.sequences();
  shape.length = s.length;
  shape.width = s.head_dim;
  shape.rank = 1;
  shape.score_bound = a->T_data;
  a->plan = plan_poly(shape, a->T_data, sizeof(T), c);
  a->range.T_used = a->plan.score_bound;
  const double u = std::numeric_limits<T>::epsilon() / 2;
  a->eval_error = feature_rounding<T>(a->plan, a->range.feature_product_bound()) + a->range.centring_error(u);
  a->certified = a->plan.polynomial.certified_error + a->eval_error < 1;
  a->eta = softmax_relative_error(a->plan.polynomial.certified_error + a->eval_error);
  a->features = std::make_unique<detail::MonomialFeatureMap<T>>(static_cast<int>(s.head_dim),
                                                                 a->plan.polynomial.degree, a->plan.polynomial.scaled);
  a->chained = {&a->range, a->features.get(), static_cast<Index>(c.block_rows), c.threads,
                "poly attention (degree " + std::to_string(a->plan.polynomial.degree) + ", T = " +
                    std::to_string(a->plan.score_bound) + "; raise the degree or use float64)"};
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

template void poly_attention_forward(const AttentionShape&, const AttentionForwardIO<float>&, const PolyConfig&);
template void poly_attention_forward(const AttentionShape&, const AttentionForwardIO<double>&, const PolyConfig&);
template void poly_attention_backward(const AttentionShape&, const AttentionBackwardIO<float>&, const PolyConfig&);
template void poly_attention_backward(const AttentionShape&, const AttentionBackwardIO<double>&, const PolyConfig&);

}  // namespace lorafgc::lora
