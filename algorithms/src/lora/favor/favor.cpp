#include "lora/favor/favor.hpp"

#include "lora/common/certified_range.hpp"
#include "lora/common/thin_factors.hpp"
#include "lora/favor/favor_features.hpp"
#include "lora/poly/chained_gradients.hpp"
#include "lora/poly/poly.hpp"

namespace lorafgc::lora {

namespace {

// The sweeps' products are poly's at rank m; the features cost a projection
// (2 d m per row) and m exponentials per row in each sweep that forms them.
PolyConfig sweep_config(const FavorConfig& c) {
  PolyConfig p;
  p.weights = c.weights;
  p.block_rows = c.block_rows;
  p.threads = c.threads;
  return p;
}

}  // namespace

Cost favor_cost(const ProblemShape& s, int scalar_bytes, const FavorConfig& c) {
  const PolyConfig p = sweep_config(c);
  Cost cost = poly_cost(s, c.features, scalar_bytes, p);
  const detail::ThinWidths w = detail::thin_widths(s, c.weights);
  const double sweeps = (w.AvT + w.N_dST()) ? 3 : 2, rows = s.batch * static_cast<double>(s.length);
  cost.flops += sweeps * rows * 2.0 * s.width * static_cast<double>(c.features);
  cost.exps = sweeps * rows * static_cast<double>(c.features);
  return cost;
}

double favor_workspace_bytes(const ProblemShape& s, int scalar_bytes, const FavorConfig& c) {
  return poly_workspace_bytes(s, c.features, scalar_bytes, sweep_config(c));
}

template <class T>
Gradients<T> favor_gradients(const Problem<T>& p, const FavorConfig& c) {
  const auto W = detail::effective_weights(p);
  const detail::CertifiedRange range = detail::certified_range(
      p.X, W[index(Projection::Q)], W[index(Projection::K)], p.beta, {c.centre, c.range_rows});
  const detail::FavorFeatures<T> features(
      detail::favor_directions(p.width(), c.features, c.seed, c.orthogonal), range.T_used);
  ProblemShape shape = shape_of(p, false);
  shape.weights = c.weights;
  detail::ChainedOptions<T> o;
  o.whole = c.weights;
  o.block_rows = sweep_block_rows(shape, c.features, sizeof(T), sweep_config(c));
  o.threads = c.threads;
  o.method = "favor";
  Gradients<T> g = detail::assemble_gradients(p, detail::chained_gradients(p, W, range, features, o), c.weights,
                                              c.weights);
  g.info["block_rows"] = static_cast<double>(o.block_rows);
  detail::report_random_map(g.info, range, range.T_used,
                            {static_cast<double>(c.features), static_cast<double>(c.seed),
                             favor_cost(shape, sizeof(T), c).flops, favor_workspace_bytes(shape, sizeof(T), c)});
  return g;
}

template Gradients<float> favor_gradients(const Problem<float>&, const FavorConfig&);
template Gradients<double> favor_gradients(const Problem<double>&, const FavorConfig&);

}  // namespace lorafgc::lora
