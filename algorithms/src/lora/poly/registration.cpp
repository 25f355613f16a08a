// poly-cheb and poly-taylor in the registry: the polynomial method with one
// kind of polynomial each.
#include <lorafgc/core/limits.hpp>
#include <lorafgc/lora/registry.hpp>

#include "lora/common/error_models.hpp"
#include "lora/common/registered.hpp"
#include "lora/poly/monomial_features.hpp"
#include "lora/poly/poly.hpp"

#include <cmath>

namespace lorafgc::lora {

namespace {

const char* algorithm_name(PolynomialKind kind) {
  return kind == PolynomialKind::Chebyshev ? "poly-cheb" : "poly-taylor";
}

class Poly final : public detail::Registered<Poly> {
 public:
  Poly(const std::string& name, PolynomialKind kind, bool hybrid, const OptionValues& o) : Registered(name, o) {
    c_.kind = kind;
    c_.eps = o.real("eps");
    c_.beta_sensitivity = o.real("beta_sensitivity");
    c_.score_rms = o.real("score_rms");
    c_.degree = static_cast<int>(o.integer("degree"));
    c_.contract = o.boolean("contract");
    c_.weights = o.boolean("weights");
    c_.centre = o.boolean("centre");
    c_.range_rows = o.integer("range_rows");
    c_.block_rows = o.integer("block");
    c_.threads = static_cast<int>(o.integer("threads"));
    c_.memory_budget_bytes = o.real("memory_mb") * 1048576.0;
    c_.hybrid = hybrid;
    if (hybrid) c_.outliers = o.integer("outliers"), c_.recentre = o.boolean("recentre");
  }
  template <class T>
  Gradients<T> run(const Problem<T>& p) const {
    return poly_gradients(p, c_);
  }
  template <class T>
  Gradients<T> run_shard(const Problem<T>& shard, const ShardLayout& layout, Collectives& comm) const {
    return poly_gradients_shard(shard, layout, comm, c_);
  }
  // poly-hybrid with a fixed count: the polynomial on the shape's score bound
  // (the bulk's T a run reports) plus the exact pairs. With the counts chosen
  // per call (outliers = -1) the cost depends on the data's norms: NaN here,
  // the run's plan in info["flops"].
  Cost cost(const ProblemShape& s, int scalar_bytes) const override {
    const long long k = rank_for(s);
    if (k < 0) return {std::nan(""), std::nan(""), std::nan(""), FlopKind::thin_gemm, static_cast<double>(s.length) * s.batch};
    Cost c = poly_cost(s, k, scalar_bytes, c_);
    if (c_.outliers > 0) add_exact_pairs(c, exact_pairs_cost(s, c_.outliers, c_.outliers, c_));
    return c;
  }
  Cost instance_cost(const Problem<float>& p, const ProblemShape& s) const override { return poly_instance_cost(p, s, c_); }
  Cost instance_cost(const Problem<double>& p, const ProblemShape& s) const override {
    return poly_instance_cost(p, s, c_);
  }
  std::vector<Cost> cost_floors(const Problem<float>& p, const ProblemShape& s) const override {
    return poly_cost_floors(p, s, c_);
  }
  std::vector<Cost> cost_floors(const Problem<double>& p, const ProblemShape& s) const override {
    return poly_cost_floors(p, s, c_);
  }
  template <class T>
  void attend(const AttentionShape& s, const AttentionForwardIO<T>& io) const {
    poly_attention_forward(s, io, c_);
  }
  template <class T>
  void attend(const AttentionShape& s, const AttentionBackwardIO<T>& io) const {
    poly_attention_backward(s, io, c_);
  }
  Cost attention_cost(const ProblemShape& p, const AttentionShape& s, const float* q, const float* k) const override {
    return poly_attention_cost(p, s, q, k, c_);
  }
  Cost attention_cost(const ProblemShape& p, const AttentionShape& s, const double* q, const double* k) const override {
    return poly_attention_cost(p, s, q, k, c_);
  }
  double workspace_bytes(const ProblemShape& s, int scalar_bytes) const override {
    const long long k = rank_for(s);
    if (k < 0) return std::nan("");
    return poly_workspace_bytes(s, k, scalar_bytes, c_) +
           (c_.outliers > 0 ? exact_pairs_workspace_bytes(s, c_.outliers, c_.outliers, scalar_bytes, c_) : 0.0);
  }

 private:
  // Needs the degree: fixed, or from eps and the shape's score bound.
  long long rank_for(const ProblemShape& s) const {
    if (c_.outliers < 0) return -1;
    if (c_.degree >= 0) return monomial_rank(s.width, c_.degree);
    if (s.score_bound < 0) return -1;
    return monomial_rank(
        s.width, certified_exp_polynomial(c_.kind, c_.eps, -1, s.score_bound, c_.beta_sensitivity, c_.score_rms).degree);
  }

  PolyConfig c_;
};

}  // namespace

// A function, not a namespace-scope table: registrations may be collected during
// static initialisation (a benchmark's default spec list), before such a table
// of this file would be constructed.
std::vector<OptionSpec> poly_options() {
  return {
      real_option("eps", 1e-3, open_interval(0, 1), "relative error of P against exp on [-T, T]; picks the degree"),
      real_option("beta_sensitivity", 0, at_least(0),
                  "s_beta, the gradients' max_rel per relative change of beta: > 0 holds an even Chebyshev degree's "
                  "error slope at the centre, times s_beta, to eps (docs/auto.md); auto sets it"),
      real_option("score_rms", 0, at_least(0),
                  "root mean square of the centred scores, over which that slope is fitted (0: the slope at the "
                  "centre, which auto uses: the fitted one can fall below the gradients' error, docs/auto.md)"),
      integer_option("degree", -1, between(-1, 200), "fixed polynomial degree (-1: the smallest meeting eps)"),
      boolean_option("contract", true, "contract with A^T, B^T before the Kronecker step: O(L k d r); false: O(L k d^2)"),
      boolean_option("weights", false, "also return the full d x d weight gradients"),
      boolean_option("centre", true, "fit exp to the scores of centred keys (a per-row shift; softmax is invariant)"),
      integer_option("range_rows", 64, between(0, static_cast<double>(limit(Quantity::length).max)),
                     "budget of the exact search for the largest scores, in rows of L scores (0: Cauchy-Schwarz)"),
      integer_option("block", 0, at_least(0),
                     "rows per block in the three sweeps (0: at most 512, fewer at large ranks; the run's in "
                     "info[\"block_rows\"]; attention: at most 64, docs/attention-backend.md)"),
      integer_option("threads", 0, between(0, static_cast<double>(limit(Quantity::threads).max)),
                     "OpenMP threads, and the BLAS calls inside the run (0: the current default)"),
      real_option("memory_mb", 0, at_least(0), "refuse plans whose workspace exceeds this (0: half of physical memory)"),
  };
}

std::unique_ptr<Algorithm> make_poly(const std::string& name, PolynomialKind kind, const OptionValues& options,
                                     bool hybrid) {
  return std::make_unique<Poly>(name, kind, hybrid, options);
}

namespace {

Registration poly_registration(PolynomialKind kind, std::string description) {
  Registration r;
  r.name = algorithm_name(kind);
  r.description = std::move(description);
  r.exact = false;
  // Certified: info["error_bound"] bounds every entry of |G~ - G|. Rounding
  // between thread counts: sums of k products of features of size <= sqrt(|ct_j|
  // j!/a!) and of O(L) such terms, reordered; on the harness's instances
  // (T <= 2) well below 1e-12 relative in double, 1e-4 in float.
  r.accuracy = {Accuracy::Guarantee::a_priori_bound, 1e-4, 1e-12, "eps=1e-12"};
  r.options = poly_options();
  r.make = [kind](const OptionValues& o) { return make_poly(algorithm_name(kind), kind, o); };
  r.error_model = detail::certified_entry_error_model("", kind == PolynomialKind::Chebyshev);
  return r;
}

}  // namespace

namespace families {

std::vector<Registration> poly() {
  return {poly_registration(PolynomialKind::Chebyshev,
                            "Polynomial method, Chebyshev interpolation of exp on [-T, T]: exp(S) ~ phi(Q) psi(K)^T "
                            "of rank C(d + g, g), chained through the gradient; O(L k d r) time, no L x L matrix."),
          poly_registration(PolynomialKind::Taylor,
                            "Polynomial method with the Taylor polynomial of exp (higher degree than poly-cheb).")};
}

}  // namespace families

}  // namespace lorafgc::lora
