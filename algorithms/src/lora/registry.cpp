// The registry: the one place an algorithm is added. Each entry names the
// algorithm, its options and a factory; the benchmarks, tools and the Python
// module enumerate this table and never name algorithms themselves.
//
// To add an algorithm: write its compute function (one file, header under
// include/lorafgc/), a small class below deriving from Registered<...>, and one
// entry in registered_algorithms().
#include <lorafgc/core/errors.hpp>
#include "lora/exact/exact.hpp"
#include "lora/exact_reference/exact_reference.hpp"
#include "lora/poly/monomial_features.hpp"
#include "lora/poly/poly.hpp"
#include <lorafgc/lora/registry.hpp>
#include <lorafgc/core/system_info.hpp>

#include <cmath>
#include <cstdio>
#include <sstream>

namespace lorafgc {

double nominal_exact_flops(const ProblemShape& s) {
  const double products = s.adapted[index(Projection::K)] ? 6.0 : 5.0;
  return products * 2.0 * static_cast<double>(s.length) * s.length * s.width * s.batch;
}

namespace {

// CRTP: the derived class provides `template <class T> Gradients<T> run(const
// Problem<T>&) const`; this base gives both dtypes and refuses non-finite output.
template <class Derived>
class Registered : public Algorithm {
 public:
  Gradients<float> compute(const Problem<float>& p) const override { return checked(p); }
  Gradients<double> compute(const Problem<double>& p) const override { return checked(p); }

 private:
  template <class T>
  Gradients<T> checked(const Problem<T>& p) const {
    Gradients<T> g = static_cast<const Derived&>(*this).run(p);
    require_finite(g, name());
    return g;
  }
};

std::string spec_string(const std::string& name, const std::map<std::string, std::string>& kv) {
  std::ostringstream out;
  out << name;
  char sep = ':';
  for (const auto& [k, v] : kv) {
    out << sep << k << '=' << v;
    sep = ',';
  }
  return out.str();
}

class ExactReference final : public Registered<ExactReference> {
 public:
  explicit ExactReference(const Options& o) : weights_(o.get_bool("weights", false)) {}
  std::string name() const override { return "exact-reference"; }
  std::string spec() const override {
    return spec_string(name(), {{"weights", weights_ ? "true" : "false"}});
  }
  template <class T>
  Gradients<T> run(const Problem<T>& p) const {
    return exact_reference_gradients(p, weights_);
  }
  double flops(const ProblemShape& s) const override {
    // S, O, dV, R V^T, dQ, dK: six L x L x d products, always.
    return 6.0 * 2.0 * static_cast<double>(s.length) * s.length * s.width * s.batch;
  }
  double workspace_bytes(const ProblemShape& s, int scalar_bytes) const override {
    return 4.0 * static_cast<double>(s.length) * s.length * scalar_bytes;  // S, F, dF, dS
  }

 private:
  bool weights_;
};

class Exact final : public Registered<Exact> {
 public:
  explicit Exact(const Options& o) {
    c_.schedule = parse_exact_schedule(o.get_string("schedule", to_string(c_.schedule)));
    c_.block_rows = o.get_int("block", c_.block_rows);
    c_.panel_bytes = o.get_int("panel_mb", c_.panel_bytes >> 20) << 20;
    c_.tile_cols = o.get_int("tile", c_.tile_cols);
    c_.threads = static_cast<int>(o.get_int("threads", 0));
    c_.weights = o.get_bool("weights", false);
    if (c_.block_rows < 1) throw InvalidArgument("option 'block'", "must be at least 1");
    if (c_.panel_bytes < 1) throw InvalidArgument("option 'panel_mb'", "must be at least 1");
    if (c_.tile_cols < 1) throw InvalidArgument("option 'tile'", "must be at least 1");
    if (c_.threads < 0) throw InvalidArgument("option 'threads'", "must be 0 (default) or positive");
  }
  std::string name() const override { return "exact"; }
  std::string spec() const override {
    return spec_string(name(), {{"schedule", to_string(c_.schedule)},
                                {"block", std::to_string(c_.block_rows)},
                                {"panel_mb", std::to_string(c_.panel_bytes >> 20)},
                                {"tile", std::to_string(c_.tile_cols)},
                                {"threads", std::to_string(c_.threads)},
                                {"weights", c_.weights ? "true" : "false"}});
  }
  template <class T>
  Gradients<T> run(const Problem<T>& p) const {
    return exact_gradients(p, c_);
  }
  double flops(const ProblemShape& s) const override {
    ProblemShape w = s;
    w.weights = c_.weights;
    return 2.0 * static_cast<double>(s.length) * s.length * exact_product_width(w, c_.schedule) * s.batch;
  }
  double workspace_bytes(const ProblemShape& s, int scalar_bytes) const override {
    ProblemShape w = s;
    w.weights = c_.weights;
    const double rows = static_cast<double>(exact_block_rows(c_, s.length, scalar_bytes));
    const double cols = c_.schedule == ExactSchedule::Panel ? s.length : std::min<double>(c_.tile_cols, s.length);
    const double threads = c_.threads > 0 ? c_.threads : omp_threads();
    // Per thread: two rows x cols blocks and the L-row accumulators; shared:
    // Q, K, V and the thin factors.
    const double thin = exact_product_width(w, ExactSchedule::Panel) - 3.0 * s.width;
    const double per_thread = 2.0 * rows * cols + thin * s.length;
    return scalar_bytes * (threads * per_thread + (4.0 * s.width + thin) * s.length);
  }

 private:
  ExactConfig c_;
};

// poly-cheb and poly-taylor: the polynomial method with one kind of polynomial.
class Poly final : public Registered<Poly> {
 public:
  Poly(PolynomialKind kind, const Options& o) {
    c_.kind = kind;
    c_.eps = o.get_double("eps", c_.eps);
    c_.degree = static_cast<int>(o.get_int("degree", c_.degree));
    c_.contract = o.get_bool("contract", c_.contract);
    c_.weights = o.get_bool("weights", false);
    c_.block_rows = o.get_int("block", c_.block_rows);
    c_.threads = static_cast<int>(o.get_int("threads", 0));
    c_.memory_budget_bytes = o.get_double("memory_mb", 0) * 1048576.0;
    if (!(c_.eps > 0 && c_.eps < 1)) throw InvalidArgument("option 'eps'", "must lie in (0, 1)");
    if (c_.degree < -1 || c_.degree > 200) throw InvalidArgument("option 'degree'", "must be -1 (auto) or 0..200");
    if (c_.block_rows < 1) throw InvalidArgument("option 'block'", "must be at least 1");
    if (c_.threads < 0) throw InvalidArgument("option 'threads'", "must be 0 (default) or positive");
    if (c_.memory_budget_bytes < 0) throw InvalidArgument("option 'memory_mb'", "must be >= 0 (0: half of RAM)");
  }
  std::string name() const override { return c_.kind == PolynomialKind::Chebyshev ? "poly-cheb" : "poly-taylor"; }
  std::string spec() const override {
    char eps[32];
    std::snprintf(eps, sizeof eps, "%.17g", c_.eps);
    return spec_string(name(), {{"eps", eps},
                                {"degree", std::to_string(c_.degree)},
                                {"contract", c_.contract ? "true" : "false"},
                                {"weights", c_.weights ? "true" : "false"},
                                {"block", std::to_string(c_.block_rows)},
                                {"threads", std::to_string(c_.threads)},
                                {"memory_mb", std::to_string(c_.memory_budget_bytes / 1048576.0)}});
  }
  template <class T>
  Gradients<T> run(const Problem<T>& p) const {
    return poly_gradients(p, c_);
  }
  // Needs the degree: fixed, or from eps and the shape's score bound.
  long long rank_for(const ProblemShape& s) const {
    if (c_.degree >= 0) return monomial_rank(s.width, c_.degree);
    if (s.score_bound < 0) return -1;
    return monomial_rank(s.width, smallest_exp_polynomial(c_.kind, c_.eps, s.score_bound).degree);
  }
  double flops(const ProblemShape& s) const override {
    const long long k = rank_for(s);
    return k < 0 ? std::nan("") : poly_flops(s, k, c_);
  }
  double workspace_bytes(const ProblemShape& s, int scalar_bytes) const override {
    const long long k = rank_for(s);
    return k < 0 ? std::nan("") : poly_workspace_bytes(s, k, scalar_bytes, c_);
  }

 private:
  PolyConfig c_;
};

template <class A>
std::unique_ptr<Algorithm> make(const Options& o) {
  return std::make_unique<A>(o);
}

template <PolynomialKind kind>
std::unique_ptr<Algorithm> make_poly(const Options& o) {
  return std::make_unique<Poly>(kind, o);
}

const std::vector<OptionInfo> poly_options = {
    {"eps", "1e-3", "relative error of P against exp on [-T, T]; picks the degree"},
    {"degree", "-1", "fixed polynomial degree (-1: the smallest meeting eps)"},
    {"contract", "true", "contract with A^T, B^T before the Kronecker step: O(L k d r); false: O(L k d^2)"},
    {"weights", "false", "also return the full d x d weight gradients"},
    {"block", "512", "rows per block in the three sweeps"},
    {"threads", "0", "OpenMP threads (0: the current default)"},
    {"memory_mb", "0", "refuse plans whose workspace exceeds this (0: half of physical memory)"}};

}  // namespace

const std::vector<AlgorithmInfo>& registered_algorithms() {
  static const std::vector<AlgorithmInfo> table = {
      {"exact-reference",
       "Materialises the L x L matrices and follows the formulas literally; O(L^2) memory. "
       "The oracle.",
       true,
       {{"weights", "false", "also return the full d x d weight gradients"}},
       make<ExactReference>},
      {"exact",
       "Exact, fused row panels: no L x L matrix, O(L d) extra memory, LoRA-contracted "
       "products (L^2 (3d + 2r per adapter) multiply-adds), OpenMP over panels, BLAS inside.",
       true,
       {{"schedule", "panel", "panel: whole b x L score panels; stream: FlashAttention-2-style column tiles "
                               "with recomputation"},
        {"block", "64", "queries per row block (panel: lowered to respect panel_mb)"},
        {"panel_mb", "16", "panel: upper bound on one b x L panel, in MiB"},
        {"tile", "256", "stream: keys per column tile"},
        {"threads", "0", "OpenMP threads (0: the current default)"},
        {"weights", "false", "also return the full d x d weight gradients"}},
       make<Exact>},
      {"poly-cheb",
       "Polynomial method, Chebyshev interpolation of exp on [-T, T]: exp(S) ~ phi(Q) psi(K)^T of rank "
       "C(d + g, g), chained through the gradient; O(L k d r) time, no L x L matrix.",
       false, poly_options, make_poly<PolynomialKind::Chebyshev>},
      {"poly-taylor", "Polynomial method with the Taylor polynomial of exp (higher degree than poly-cheb).", false,
       poly_options, make_poly<PolynomialKind::Taylor>},
  };
  return table;
}

const AlgorithmInfo& algorithm_info(const std::string& name) {
  for (const auto& info : registered_algorithms())
    if (info.name == name) return info;
  std::string known;
  for (const auto& info : registered_algorithms()) known += (known.empty() ? "" : ", ") + info.name;
  throw InvalidArgument("algorithm", "unknown algorithm '" + name + "' (known: " + known + ")");
}

std::unique_ptr<Algorithm> make_algorithm(const std::string& name, const Options& options) {
  const AlgorithmInfo& info = algorithm_info(name);
  auto algorithm = info.make(options);
  options.reject_unused(name);
  return algorithm;
}

std::unique_ptr<Algorithm> make_algorithm(const std::string& spec) {
  const AlgorithmSpec parsed = parse_algorithm_spec(spec);
  return make_algorithm(parsed.name, parsed.options);
}

}  // namespace lorafgc
