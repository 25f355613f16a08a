// The registry: the one place an algorithm is added. Each entry names the
// algorithm, its options and a factory; the benchmarks, tools and the Python
// module enumerate this table and never name algorithms themselves.
//
// To add an algorithm: write its compute function (one file, header under
// include/lorafgc/), a small class below deriving from Registered<...>, and one
// entry in registered_algorithms().
#include <lorafgc/errors.hpp>
#include <lorafgc/exact.hpp>
#include <lorafgc/exact_reference.hpp>
#include <lorafgc/registry.hpp>
#include <lorafgc/system_info.hpp>

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

template <class A>
std::unique_ptr<Algorithm> make(const Options& o) {
  return std::make_unique<A>(o);
}

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
