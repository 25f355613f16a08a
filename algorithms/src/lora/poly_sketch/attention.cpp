// poly-sketch's attention on Q, K, V: the certified polynomial's degrees
// sketched to width m, through the chained low-rank attention.
#include "lora/common/certified_range.hpp"
#include "lora/poly/chained_attention.hpp"
#include "lora/poly_sketch/poly_sketch.hpp"
#include "lora/poly_sketch/sketch_features.hpp"

namespace lorafgc::lora {

namespace {

// The forward's and the backward's shared plan: the same seed gives the same sketch.
template <class T, class IO, class Run>
void with_features(const AttentionShape& s, const IO& io, const PolySketchConfig& c, Run&& run) {
  const PolyConfig& p = c.poly;
  detail::CertifiedRange range = detail::certified_range(detail::attention_rows(s, io.q, io.k, p.centre), s.scale,
                                                         {p.centre, p.range_rows});
  const ExpPolynomial P =
      certified_exp_polynomial(p.kind, p.eps, p.degree, range.T_used, p.beta_sensitivity, p.score_rms);
  const double T_used = range.T_used;
  range.T_used = P.score_bound;
  const detail::SketchFeatures<T> features(static_cast<int>(s.head_dim), P.scaled, c.sketch, c.seed);
  run(detail::ChainedAttention<T>{&range, &features, static_cast<Eigen::Index>(p.block_rows), p.threads,
                                  "poly-sketch (degree " + std::to_string(P.degree) + ", sketch width " +
                                      std::to_string(c.sketch) + "; widen the sketch)"});
  if (!io.info) return;
  detail::report_attention_range(*io.info, range, T_used, static_cast<double>(features.rank()));
  (*io.info)["seed"] = static_cast<double>(c.seed);
  (*io.info)["degree"] = P.degree;
  (*io.info)["T"] = P.score_bound;
  (*io.info)["poly_error"] = P.certified_error;
}

}  // namespace

template <class T>
void poly_sketch_attention(const AttentionShape& s, const AttentionForwardIO<T>& io, const PolySketchConfig& c) {
  with_features<T>(s, io, c, [&](const auto& a) { detail::chained_attention_forward(s, io, a); });
}

template <class T>
void poly_sketch_attention(const AttentionShape& s, const AttentionBackwardIO<T>& io, const PolySketchConfig& c) {
  with_features<T>(s, io, c, [&](const auto& a) { detail::chained_attention_backward(s, io, a); });
}

template void poly_sketch_attention(const AttentionShape&, const AttentionForwardIO<float>&, const PolySketchConfig&);
template void poly_sketch_attention(const AttentionShape&, const AttentionForwardIO<double>&, const PolySketchConfig&);
template void poly_sketch_attention(const AttentionShape&, const AttentionBackwardIO<float>&, const PolySketchConfig&);
template void poly_sketch_attention(const AttentionShape&, const AttentionBackwardIO<double>&, const PolySketchConfig&);

}  // namespace lorafgc::lora
