// The layers of one ICGD block, each as the paper's proof builds it. A head's
// query and key are written as rows of (head_dim x D) sparse matrices; the
// token coordinates come from the TokenLayout.
#include "icgd_construction.hpp"

#include <Eigen/SparseCore>

#include <string>

namespace lorafgc::icl::detail {
namespace {

using Triplets = std::vector<Eigen::Triplet<double, Eigen::Index>>;

SparseRows sparse(Eigen::Index rows, Eigen::Index cols, const Triplets& entries) {
  SparseRows m(rows, cols);
  m.setFromTriplets(entries.begin(), entries.end());
  return m;
}

// Coordinate of v_jk[l] in the token.
Eigen::Index weight_at(const IcgdConfig& c, const TokenLayout& t, int j, int k, int l) {
  return t.w + c.shape.offset(j) + Eigen::Index(k) * c.shape.fan_in(j) + l;
}

// Query and key whose inner product is a v_jk^T p(j-1) + a_shift (Lemma 2,
// (C.7)): the query carries p(j-1) from token i, the key v_jk from token s;
// w is the same in every token, so the score does not depend on s.
std::pair<SparseRows, SparseRows> unit_query_key(const IcgdConfig& c, const TokenLayout& t, int j, int k,
                                                 double slope, double shift) {
  const int f = c.shape.fan_in(j);
  Triplets q, key;
  for (int l = 0; l < f; ++l) {
    q.emplace_back(l, t.p_of(j - 1) + l, slope);
    key.emplace_back(l, weight_at(c, t, j, k, l), 1.0);
  }
  q.emplace_back(f, t.one, shift);
  key.emplace_back(f, t.one, 1.0);
  return {sparse(f + 1, t.dim, q), sparse(f + 1, t.dim, key)};
}

// |v_jk^T p(j-1)| <= range: the fit's argument stays where it was fitted.
RangeGuard preactivation_guard(const IcgdConfig& c, const TokenLayout& t, int j, int k, double range) {
  Triplets q, key;
  for (int l = 0; l < c.shape.fan_in(j); ++l) {
    q.emplace_back(l, t.p_of(j - 1) + l, 1.0);
    key.emplace_back(l, weight_at(c, t, j, k, l), 1.0);
  }
  const int f = c.shape.fan_in(j);
  return {sparse(f, t.dim, q), sparse(f, t.dim, key), range,
          "pre-activation v_" + std::to_string(j) + "," + std::to_string(k + 1) + "^T p(" + std::to_string(j - 1) + ")"};
}

// One head per (unit k, ReLU unit of the fit): sum_h c_h relu(a_h1 z + a_h2) = fit(z)
// written to out(k).
void add_fitted_heads(Layer& layer, const IcgdConfig& c, const TokenLayout& t, int j, const ReluSum& fit,
                      Eigen::Index out) {
  for (int k = 0; k < c.shape.units(j); ++k) {
    for (const auto& u : fit.units) {
      auto [q, key] = unit_query_key(c, t, j, k, u.slope, u.shift);
      layer.heads.push_back({std::move(q), std::move(key), {int(out + k)}, sparse(1, t.dim, {{0, t.one, u.coefficient}})});
    }
    layer.guards.push_back(preactivation_guard(c, t, j, k, fit.range));
  }
}

}  // namespace

TokenLayout make_layout(const NetworkShape& s) {
  TokenLayout t;
  t.unit_offset.assign(s.layers + 1, 0);
  Eigen::Index units = 0;
  for (int j = 1; j <= s.layers; ++j) {
    t.unit_offset[j] = units;
    units += s.units(j);
  }
  t.x = 0;
  t.y = s.input_dim;
  t.w = t.y + s.output_dim;
  t.p = t.w + s.parameter_count();
  t.r_prime = t.p + units;
  t.g = t.r_prime + units;
  t.s = t.g + s.output_dim;
  t.one = t.s + units;
  t.t = t.one + 1;
  t.dim = t.t + 1;
  return t;
}

Layer forward_layer(const IcgdConfig& c, const TokenLayout& t, const Fits& f, int j, const std::string& role) {
  Layer layer{LayerKind::relu_attention, role, {}, {}, {}, {}};
  add_fitted_heads(layer, c, t, j, f.r, t.p_of(j));
  return layer;
}

Layer r_prime_layer(const IcgdConfig& c, const TokenLayout& t, const Fits& f) {
  Layer layer{LayerKind::relu_attention, "activation derivatives", {}, {}, {}, {}};
  for (int j = 1; j <= c.shape.layers; ++j) add_fitted_heads(layer, c, t, j, f.r_prime, t.r_prime_of(j));
  return layer;
}

// g[k] = 2 relu(p - y - R3 (1 - t)) - 2 relu(y - p - R3 (1 - t)) = t * 2 (p - y)
// whenever |p - y| <= R3 (Lemma 4, (C.14)): exact, and 0 for the query.
Layer loss_derivative_layer(const IcgdConfig& c, const TokenLayout& t, const Fits& f) {
  Layer layer{LayerKind::mlp, "loss derivative", {}, {}, {}, {}};
  const int dout = c.shape.output_dim;
  const double R3 = f.bounds.loss_range;
  Triplets w1;
  Triplets w2;
  for (int k = 0; k < dout; ++k) {
    const Eigen::Index p = t.p_of(c.shape.layers) + k, y = t.y + k;
    for (int sign : {1, -1}) {
      const int h = 2 * k + (sign < 0);
      w1.insert(w1.end(), {{h, p, double(sign)}, {h, y, -double(sign)}, {h, t.t, R3}, {h, t.one, -R3}});
      w2.emplace_back(t.g + k, h, 2.0 * sign);
    }
    layer.guards.push_back({sparse(1, t.dim, {{0, p, 1.0}, {0, y, -1.0}}), sparse(1, t.dim, {{0, t.one, 1.0}}), R3,
                            "p(N)[" + std::to_string(k + 1) + "] - y[" + std::to_string(k + 1) + "]"});
  }
  layer.w1 = sparse(2 * dout, t.dim, w1);
  layer.w2.resize(t.dim, 2 * dout);
  layer.w2.setFromTriplets(w2.begin(), w2.end());
  return layer;
}

// s(N)[k] = r'(N-1)[k] g[k];  s(j)[k] = r'(j-1)[k] (V_{j+1}^T s(j+1))[k]  (Lemma 5, (C.15)).
Layer backward_layer(const IcgdConfig& c, const TokenLayout& t, int j) {
  Layer layer{LayerKind::elementwise_multiplication, "backward " + std::to_string(j), {}, {}, {}, {}};
  const int N = c.shape.layers;
  for (int k = 0; k < c.shape.units(j); ++k) {
    const int out = int(t.s_of(j) + k);
    const Eigen::Index rp = t.r_prime_of(j) + k;
    if (j == N) {
      layer.heads.push_back({sparse(1, t.dim, {{0, rp, 1.0}}), sparse(1, t.dim, {{0, t.one, 1.0}}), {out},
                             sparse(1, t.dim, {{0, t.g + k, 1.0}})});
      continue;
    }
    Triplets q, key;
    for (int l = 0; l < c.shape.units(j + 1); ++l) {
      q.emplace_back(l, weight_at(c, t, j + 1, l, k), 1.0);
      key.emplace_back(l, t.s_of(j + 1) + l, 1.0);
    }
    const int m = c.shape.units(j + 1);
    layer.heads.push_back({sparse(m, t.dim, q), sparse(m, t.dim, key), {out}, sparse(1, t.dim, {{0, rp, 1.0}})});
  }
  return layer;
}

// w <- w - eta/(2n) sum_{i<=n} s_i(j)[k] p_i(j-1): per (j, k) two heads with
// scores relu(+-s_s(j)[k]) (their difference is s exactly) and values
// -+ eta T/(2n) p_s(j-1) written onto v_jk. The query's s is 0 (g is masked).
Layer update_layer(const IcgdConfig& c, const TokenLayout& t) {
  Layer layer{LayerKind::relu_attention, "update", {}, {}, {}, {}};
  const double scale = -c.eta * double(c.examples + 1) / (2.0 * c.examples);
  for (int j = 1; j <= c.shape.layers; ++j) {
    const int f = c.shape.fan_in(j);
    for (int k = 0; k < c.shape.units(j); ++k) {
      for (int sign : {1, -1}) {
        Head head{sparse(1, t.dim, {{0, t.one, 1.0}}), sparse(1, t.dim, {{0, t.s_of(j) + k, double(sign)}}), {}, {}};
        Triplets v;
        for (int l = 0; l < f; ++l) {
          head.value_rows.push_back(int(weight_at(c, t, j, k, l)));
          v.emplace_back(l, t.p_of(j - 1) + l, sign * scale);
        }
        head.value = sparse(f, t.dim, v);
        layer.heads.push_back(std::move(head));
      }
    }
  }
  return layer;
}

// clip(w, -b, b) = w - relu(w - b) + relu(-w - b), and c - relu(c) + relu(-c) = 0
// clears the scratch slots (p, r', g, s) for the next block.
Layer projection_layer(const IcgdConfig& c, const TokenLayout& t) {
  Layer layer{LayerKind::mlp, "projection", {}, {}, {}, {}};
  Triplets w1, w2;
  int h = 0;
  for (Eigen::Index m = t.w; m < t.p; ++m, h += 2) {
    w1.insert(w1.end(), {{h, m, 1.0}, {h, t.one, -c.radius}, {h + 1, m, -1.0}, {h + 1, t.one, -c.radius}});
    w2.insert(w2.end(), {{m, h, -1.0}, {m, h + 1, 1.0}});
  }
  for (Eigen::Index m = t.p; m < t.one; ++m, h += 2) {
    w1.insert(w1.end(), {{h, m, 1.0}, {h + 1, m, -1.0}});
    w2.insert(w2.end(), {{m, h, -1.0}, {m, h + 1, 1.0}});
  }
  layer.w1 = sparse(h, t.dim, w1);
  layer.w2.resize(t.dim, h);
  layer.w2.setFromTriplets(w2.begin(), w2.end());
  return layer;
}

}  // namespace lorafgc::icl::detail
