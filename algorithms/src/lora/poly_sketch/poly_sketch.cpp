#include "lora/poly_sketch/poly_sketch.hpp"

#include "lora/common/certified_range.hpp"
#include "lora/common/thin_factors.hpp"
#include "lora/poly/chained_gradients.hpp"
#include "lora/poly_sketch/sketch_features.hpp"

#include <cmath>

namespace lorafgc::lora {

namespace {

int degree_for(const ProblemShape& s, const PolySketchConfig& c) {
  if (c.poly.degree >= 0) return c.poly.degree;
  if (s.score_bound < 0) return -1;
  return certified_exp_polynomial(c.poly.kind, c.poly.eps, -1, s.score_bound, c.poly.beta_sensitivity,
                                  c.poly.score_rms)
      .degree;
}

}  // namespace

// The sweeps' products at rank 1 + g m, plus the sketch: 2 d (1 + ... + g) m
// flops per row for the projections and (0 + 1 + ... + g - 1) m products, in
// each sweep that forms features.
Cost poly_sketch_cost(const ProblemShape& s, int scalar_bytes, const PolySketchConfig& c) {
  const int g = degree_for(s, c);
  if (g < 0) return {std::nan(""), std::nan(""), std::nan(""), FlopKind::thin_gemm, static_cast<double>(s.length) * s.batch};
  const double m = static_cast<double>(c.sketch), projections = m * g * (g + 1) / 2.0;
  Cost cost = poly_cost(s, 1 + g * c.sketch, scalar_bytes, c.poly);
  const detail::ThinWidths w = detail::thin_widths(s, c.poly.whole());
  const double sweeps = (w.AvT + w.N_dST()) ? 3 : 2, rows = s.batch * static_cast<double>(s.length);
  cost.flops += sweeps * rows * (2.0 * s.width * projections + projections - m * g);
  return cost;
}

double poly_sketch_workspace_bytes(const ProblemShape& s, int scalar_bytes, const PolySketchConfig& c) {
  const int g = degree_for(s, c);
  if (g < 0) return std::nan("");
  const double b = static_cast<double>(sweep_block_rows(s, 1 + g * c.sketch, scalar_bytes, c.poly));
  return poly_workspace_bytes(s, 1 + g * c.sketch, scalar_bytes, c.poly) +
         scalar_bytes * (b * g * static_cast<double>(c.sketch) * (c.poly.threads > 0 ? c.poly.threads : 2));
}

template <class T>
Gradients<T> poly_sketch_gradients(const Problem<T>& p, const PolySketchConfig& c) {
  const auto W = detail::effective_weights(p);
  detail::CertifiedRange range = detail::certified_range(p.X, W[index(Projection::Q)], W[index(Projection::K)], p.beta,
                                                         {c.poly.centre, c.poly.range_rows});
  const ExpPolynomial P =
      certified_exp_polynomial(c.poly.kind, c.poly.eps, c.poly.degree, range.T_used, c.poly.beta_sensitivity,
                               c.poly.score_rms);
  const double T_used = range.T_used;
  range.T_used = P.score_bound;
  const detail::SketchFeatures<T> features(static_cast<int>(p.width()), P.scaled, c.sketch, c.seed);
  ProblemShape shape = shape_of(p, false);
  shape.weights = c.poly.weights;
  shape.score_bound = P.score_bound;
  detail::ChainedOptions<T> o;
  o.whole = c.poly.whole();
  o.block_rows = sweep_block_rows(shape, features.rank(), sizeof(T), c.poly);
  o.threads = c.poly.threads;
  o.method = "poly-sketch (degree " + std::to_string(P.degree) + ", sketch width " + std::to_string(c.sketch) +
             "; widen the sketch)";
  Gradients<T> g = detail::assemble_gradients(p, detail::chained_gradients(p, W, range, features, o), c.poly.whole(),
                                              c.poly.weights);
  g.info["block_rows"] = static_cast<double>(o.block_rows);
  detail::report_random_map(g.info, range, T_used,
                            {static_cast<double>(features.rank()), static_cast<double>(c.seed),
                             poly_sketch_cost(shape, sizeof(T), c).flops,
                             poly_sketch_workspace_bytes(shape, sizeof(T), c)});
  g.info["degree"] = P.degree;
  g.info["T"] = P.score_bound;
  g.info["poly_error"] = P.certified_error;
  return g;
}

template Gradients<float> poly_sketch_gradients(const Problem<float>&, const PolySketchConfig&);
template Gradients<double> poly_sketch_gradients(const Problem<double>&, const PolySketchConfig&);

}  // namespace lorafgc::lora
