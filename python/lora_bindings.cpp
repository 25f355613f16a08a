// Python entry points of the LoRA-gradient workload (lorafgc.lora):
// gradients, generate, algorithms. Arrays cross the boundary as copies (numpy
// is row-major, the library column-major); the O(L d) copy is negligible next
// to the O(L^2 d) gradient. Every malformed argument raises ValueError naming
// it (InvalidArgument derives from std::invalid_argument, which pybind11 maps
// to ValueError).
#include "lora_bindings.hpp"

#include "arguments.hpp"
#include "numpy_conversions.hpp"

#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/lora/auto_plan.hpp>
#include <lorafgc/lora/cost_model.hpp>
#include <lorafgc/lora/generator.hpp>
#include <lorafgc/lora/kernels.hpp>
#include <lorafgc/lora/registry.hpp>
#include <lorafgc/lora/score_range.hpp>
#include <lorafgc/lora/sequence_parallel.hpp>

#include <pybind11/numpy.h>
#include <cmath>
#include <pybind11/stl.h>

namespace lorafgc::python {

namespace {

using namespace lorafgc::lora;


Projection projection_for_key(const std::string& k) {
  for (Projection p : kProjections)
    if (k == key(p)) return p;
  throw InvalidArgument("adapters", "unknown key '" + k + "' (expected 'q', 'k' or 'v')");
}

std::string option_text(const py::handle& v, const std::string& key) {
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>() ? "true" : "false";
  if (py::isinstance<py::int_>(v) || py::isinstance<py::float_>(v) || py::isinstance<py::str>(v))
    return py::str(v).cast<std::string>();
  throw InvalidArgument("option '" + key + "'", "expected a number, bool or string");
}

// validate = false: a shard of a sequence-parallel run, which the processes validate together.
template <class T>
Problem<T> build_problem(const py::array& X, const py::handle& Wq, const py::handle& Wk, const py::handle& Wv,
                         const py::handle& Y, const py::dict& adapters, double alpha, double beta,
                         bool validate = true) {
  Problem<T> p;
  p.X = to_batch<T>(X, "X");
  p.Y = to_batch<T>(as_array(Y, "Y"), "Y");
  if (as_array(Y, "Y").ndim() != X.ndim())
    throw InvalidArgument("Y", "has " + std::to_string(as_array(Y, "Y").ndim()) + " dimensions, X has " +
                                   std::to_string(X.ndim()));
  p.W[index(Projection::Q)] = to_matrix<T>(as_array(Wq, "Wq"), "Wq");
  p.W[index(Projection::K)] = to_matrix<T>(as_array(Wk, "Wk"), "Wk");
  p.W[index(Projection::V)] = to_matrix<T>(as_array(Wv, "Wv"), "Wv");
  for (const auto& [k, v] : adapters) {
    const std::string name = py::str(k).cast<std::string>();
    const Projection proj = projection_for_key(name);
    const std::string tag = "adapters['" + name + "']";
    if (!py::isinstance<py::sequence>(v) || py::isinstance<py::str>(v) || py::len(v) != 2)
      throw InvalidArgument(tag, "expected a pair (B, A)");
    auto pair = py::reinterpret_borrow<py::sequence>(v);
    p.adapter[index(proj)] = LoraAdapter<T>{to_matrix<T>(as_array(pair[0], tag + ".B"), tag + ".B"),
                                            to_matrix<T>(as_array(pair[1], tag + ".A"), tag + ".A")};
  }
  p.alpha = alpha;
  p.beta = beta;
  if (validate) p.validate();
  return p;
}

// A spec with the keyword arguments as further options.
std::unique_ptr<Algorithm> algorithm_with(const std::string& algorithm, const py::kwargs& kwargs) {
  AlgorithmSpec spec = parse_algorithm_spec(algorithm);
  for (const auto& [k, v] : kwargs) {
    const std::string key = py::str(k).cast<std::string>();
    spec.options.set(key, option_text(v, key));
  }
  return make_algorithm(spec.name, spec.options);
}

template <class T>
py::dict gradients_dict(const Gradients<T>& g, const Algorithm& algo);

template <class T>
py::dict run_gradients(const py::array& X, const py::handle& Wq, const py::handle& Wk, const py::handle& Wv,
                       const py::handle& Y, const py::dict& adapters, double alpha, double beta,
                       const std::string& algorithm, const py::kwargs& kwargs) {
  const Problem<T> p = build_problem<T>(X, Wq, Wk, Wv, Y, adapters, alpha, beta);
  const auto algo = algorithm_with(algorithm, kwargs);
  Gradients<T> g;
  {
    py::gil_scoped_release release;
    g = algo->compute(p);
  }
  return gradients_dict(g, *algo);
}

template <class T>
py::dict gradients_dict(const Gradients<T>& g, const Algorithm& algo) {
  py::dict out;
  out["loss"] = g.loss;
  py::dict weights;
  for (Projection q : kProjections) {
    if (g.adapter[index(q)])
      out[key(q)] = py::make_tuple(to_numpy(g.adapter[index(q)]->dB), to_numpy(g.adapter[index(q)]->dA));
    if (g.weight[index(q)]) weights[key(q)] = to_numpy(*g.weight[index(q)]);
  }
  if (!weights.empty()) out["weights"] = weights;
  out["info"] = g.info;
  out["algorithm"] = algo.spec();
  return out;
}

template <class T>
py::dict run_score_range(const py::array& X, const py::handle& Wq, const py::handle& Wk, const py::handle& Wv,
                         const py::handle& Y, const py::dict& adapters, double alpha, double beta, bool centre,
                         long long range_rows) {
  const Problem<T> p = build_problem<T>(X, Wq, Wk, Wv, Y, adapters, alpha, beta);
  ScoreRange r;
  {
    py::gil_scoped_release release;
    r = certified_score_range(p, {centre, range_rows});
  }
  py::dict out;
  out["T_cauchy_schwarz"] = r.T_cauchy_schwarz;
  out["T_centred"] = r.T_centred;
  out["T_used"] = r.T_used;
  return out;
}

py::dict lora_gradients(const py::handle& X, const py::handle& Wq, const py::handle& Wk, const py::handle& Wv,
                        const py::handle& Y, const py::handle& adapters, const py::handle& alpha_arg,
                        const py::handle& beta_arg, const std::string& algorithm, const py::kwargs& kwargs) {
  const double alpha = real_arg(alpha_arg, "alpha"), beta = real_arg(beta_arg, "beta");
  const py::array x = as_array(X, "X");
  if (!py::isinstance<py::dict>(adapters))
    throw InvalidArgument("adapters", "expected a dict mapping 'q', 'k', 'v' to (B, A)");
  const auto ad = adapters.cast<py::dict>();
  if (py::isinstance<py::array_t<float>>(x) && x.dtype().kind() == 'f' && x.itemsize() == 4)
    return run_gradients<float>(x, Wq, Wk, Wv, Y, ad, alpha, beta, algorithm, kwargs);
  if (py::isinstance<py::array_t<double>>(x) && x.dtype().kind() == 'f' && x.itemsize() == 8)
    return run_gradients<double>(x, Wq, Wk, Wv, Y, ad, alpha, beta, algorithm, kwargs);
  throw InvalidArgument("X", "dtype " + dtype_of(x) + " is not supported (use float32 or float64)");
}

// Collectives written in Python (lorafgc.mpi.MpiCollectives, over mpi4py): the
// library calls back on the thread that called it, with numpy views of its own
// buffers (no copies), holding the GIL only for the call.
class PyCollectives final : public Collectives {
 public:
  int rank() const override { return call_int("rank"); }
  int size() const override { return call_int("size"); }
  void sum(double* v, std::size_t n) override { call("sum", v, n); }
  void sum(float* v, std::size_t n) override { call("sum", v, n); }
  void max(double* v, std::size_t n) override { call("max", v, n); }
  void gather_all(const void* mine, void* all, const std::vector<std::size_t>& counts) override {
    py::gil_scoped_acquire gil;
    std::size_t total = 0;
    for (std::size_t c : counts) total += c;
    auto* in = static_cast<std::uint8_t*>(const_cast<void*>(mine));
    const std::size_t own = counts.at(static_cast<std::size_t>(call_int("rank")));
    method("gather_all")(view(in, own), view(static_cast<std::uint8_t*>(all), total),
                         py::array_t<long long>(static_cast<py::ssize_t>(counts.size()),
                                                reinterpret_cast<const long long*>(counts.data())));
  }

 private:
  template <class U>
  static py::array_t<U> view(U* data, std::size_t n) {
    return py::array_t<U>(static_cast<py::ssize_t>(n), data, py::capsule(data, [](void*) {}));
  }
  py::function method(const char* name) const {
    py::function f = py::get_override(static_cast<const Collectives*>(this), name);
    if (!f) throw InvalidArgument("comm", std::string("defines no method '") + name + "'");
    return f;
  }
  int call_int(const char* name) const {
    py::gil_scoped_acquire gil;
    return method(name)().cast<int>();
  }
  template <class U>
  void call(const char* name, U* v, std::size_t n) {
    py::gil_scoped_acquire gil;
    method(name)(view(v, n));
  }
};

template <class T>
py::dict run_sequence_parallel(const py::array& X, const py::handle& Wq, const py::handle& Wk, const py::handle& Wv,
                               const py::handle& Y, const py::dict& adapters, double alpha, double beta,
                               const std::string& algorithm, Collectives& comm, const py::kwargs& kwargs) {
  const Problem<T> shard = build_problem<T>(X, Wq, Wk, Wv, Y, adapters, alpha, beta, false);
  const auto algo = algorithm_with(algorithm, kwargs);
  Gradients<T> g;
  {
    py::gil_scoped_release release;
    g = sequence_parallel_gradients(*algo, shard, comm);
  }
  return gradients_dict(g, *algo);
}

py::dict lora_sequence_parallel(const py::handle& X, const py::handle& Wq, const py::handle& Wk,
                                const py::handle& Wv, const py::handle& Y, const py::handle& adapters,
                                const py::handle& alpha_arg, const py::handle& beta_arg, const std::string& algorithm,
                                const py::handle& comm_arg, const py::kwargs& kwargs) {
  const double alpha = real_arg(alpha_arg, "alpha"), beta = real_arg(beta_arg, "beta");
  const py::array x = as_array(X, "X");
  if (!py::isinstance<py::dict>(adapters))
    throw InvalidArgument("adapters", "expected a dict mapping 'q', 'k', 'v' to (B, A)");
  LocalCollectives local;
  Collectives* comm = &local;
  if (!comm_arg.is_none()) {
    if (!py::isinstance<Collectives>(comm_arg))
      throw InvalidArgument("comm", "expected a lorafgc Collectives (lorafgc.mpi.MpiCollectives()) or None");
    comm = comm_arg.cast<Collectives*>();
  }
  const auto ad = adapters.cast<py::dict>();
  if (x.dtype().kind() == 'f' && x.itemsize() == 4)
    return run_sequence_parallel<float>(x, Wq, Wk, Wv, Y, ad, alpha, beta, algorithm, *comm, kwargs);
  if (x.dtype().kind() == 'f' && x.itemsize() == 8)
    return run_sequence_parallel<double>(x, Wq, Wk, Wv, Y, ad, alpha, beta, algorithm, *comm, kwargs);
  throw InvalidArgument("X", "dtype " + dtype_of(x) + " is not supported (use float32 or float64)");
}

py::dict lora_score_range(const py::handle& X, const py::handle& Wq, const py::handle& Wk, const py::handle& Wv,
                          const py::handle& Y, const py::handle& adapters, const py::handle& alpha_arg,
                          const py::handle& beta_arg, const py::handle& centre, const py::handle& range_rows_arg) {
  const double alpha = real_arg(alpha_arg, "alpha"), beta = real_arg(beta_arg, "beta");
  const long long range_rows = integer_arg(range_rows_arg, "range_rows");
  if (range_rows < 0) throw InvalidArgument("range_rows", "must be >= 0, got " + std::to_string(range_rows));
  if (!py::isinstance<py::bool_>(centre)) throw InvalidArgument("centre", "expected True or False");
  const py::array x = as_array(X, "X");
  if (!py::isinstance<py::dict>(adapters))
    throw InvalidArgument("adapters", "expected a dict mapping 'q', 'k', 'v' to (B, A)");
  const auto ad = adapters.cast<py::dict>();
  const bool c = centre.cast<bool>();
  if (x.dtype().kind() == 'f' && x.itemsize() == 4)
    return run_score_range<float>(x, Wq, Wk, Wv, Y, ad, alpha, beta, c, range_rows);
  if (x.dtype().kind() == 'f' && x.itemsize() == 8)
    return run_score_range<double>(x, Wq, Wk, Wv, Y, ad, alpha, beta, c, range_rows);
  throw InvalidArgument("X", "dtype " + dtype_of(x) + " is not supported (use float32 or float64)");
}

template <class T>
py::dict instance_dict(const Problem<T>& p, bool three_d) {
  py::dict out;
  out["X"] = to_numpy(p.X, three_d);
  out["Wq"] = to_numpy(p.W[index(Projection::Q)]);
  out["Wk"] = to_numpy(p.W[index(Projection::K)]);
  out["Wv"] = to_numpy(p.W[index(Projection::V)]);
  out["Y"] = to_numpy(p.Y, three_d);
  py::dict adapters;
  for (Projection q : kProjections)
    if (p.adapter[index(q)])
      adapters[key(q)] = py::make_tuple(to_numpy(p.adapter[index(q)]->B), to_numpy(p.adapter[index(q)]->A));
  out["adapters"] = adapters;
  out["alpha"] = p.alpha;
  out["beta"] = p.beta;
  return out;
}

py::dict generate_instance(const py::handle& L, const py::handle& d, const py::handle& r, const py::handle& gamma,
                           const std::string& mode, const py::object& dtype, const py::handle& seed,
                           const py::object& batch, const py::handle& lora_share, const py::handle& alpha,
                           const py::handle& beta, const py::handle& score_bound, const py::handle& family,
                           const py::handle& key_share, const py::handle& outlier_channels,
                           const py::handle& outlier_scale, const py::handle& spectrum_decay,
                           const py::handle& adversarial_noise) {
  GeneratorConfig c;
  if (!py::isinstance<py::str>(family))
    throw InvalidArgument("family", "expected a string (gaussian, llm or adversarial), got " +
                                        py::repr(family).cast<std::string>());
  c.family = parse_family(family.cast<std::string>());
  c.llm.key_share = real_arg(key_share, "key_share");
  c.llm.outlier_channels = integer_arg(outlier_channels, "outlier_channels");
  c.llm.outlier_scale = real_arg(outlier_scale, "outlier_scale");
  c.llm.spectrum_decay = real_arg(spectrum_decay, "spectrum_decay");
  c.adversarial_noise = real_arg(adversarial_noise, "adversarial_noise");
  c.length = integer_arg(L, "L");
  c.width = integer_arg(d, "d");
  c.rank = integer_arg(r, "r");
  c.gamma = real_arg(gamma, "gamma");
  c.adaptation = parse_adaptation(mode);
  c.seed = seed_arg(seed);
  c.batch = batch.is_none() ? 1 : integer_arg(batch, "batch");
  c.lora_share = real_arg(lora_share, "lora_share");
  c.score_bound = real_arg(score_bound, "score_bound");
  c.alpha = real_arg(alpha, "alpha");
  c.beta = real_arg(beta, "beta");
  py::dtype dt;
  try {
    dt = py::dtype::from_args(dtype);
  } catch (const py::error_already_set&) {
    throw InvalidArgument("dtype", "not a dtype: " + py::repr(dtype).cast<std::string>());
  }
  if (dt.is(py::dtype::of<float>()) || dt.equal(py::dtype::of<float>()))
    return instance_dict(generate<float>(c), !batch.is_none());
  if (dt.equal(py::dtype::of<double>())) return instance_dict(generate<double>(c), !batch.is_none());
  throw InvalidArgument("dtype", "expected float32 or float64, got " + py::str(dt).cast<std::string>());
}

py::list algorithm_table() {
  py::list out;
  for (const auto& info : registered_algorithms()) {
    py::dict options;
    for (const auto& o : info.options) options[o.name.c_str()] = py::make_tuple(o.default_value, o.help);
    py::dict entry;
    entry["name"] = info.name;
    entry["description"] = info.description;
    entry["exact"] = info.exact;
    entry["oracle"] = info.oracle;
    entry["selector"] = info.selector;
    entry["variants"] = registered_specs([&](const Registration& r) { return &r == &info; });
    entry["options"] = options;
    out.append(entry);
  }
  return out;
}

int scalar_bytes_arg(const std::string& dtype) {
  if (dtype == "float32") return 4;
  if (dtype == "float64") return 8;
  throw InvalidArgument("dtype", "expected 'float32' or 'float64', got '" + dtype + "'");
}

ProblemShape shape_from(const py::handle& L, const py::handle& d, const py::handle& r, const std::string& mode,
                        const py::handle& batch) {
  ProblemShape s;
  s.length = count_arg(L, "L", Quantity::length);
  s.width = count_arg(d, "d", Quantity::width);
  s.rank = count_arg(r, "r", Quantity::rank);
  s.batch = count_arg(batch, "batch", Quantity::batch);
  s.adapted = {true, parse_adaptation(mode) == Adaptation::Full, true};
  return s;
}

py::dict rates_dict(const MachineRates& r) {
  py::dict out;
  out["dtype"] = r.scalar_bytes == 4 ? "float32" : "float64";
  out["threads"] = r.threads;
  out["gemm_flops_per_s"] = r.gemm_flops_per_s;
  out["thin_gemm_flops_per_s"] = r.thin_gemm_flops_per_s;
  out["exp_per_s"] = r.exp_per_s;
  out["bytes_per_s"] = r.bytes_per_s;
  out["seconds"] = r.seconds;
  return out;
}

MachineRates rates_from(const py::dict& d) {
  MachineRates r;
  auto rate = [&](const char* k) {
    if (!d.contains(k)) throw InvalidArgument("rates", std::string("missing '") + k + "' (use calibrate())");
    const double v = real_arg(d[k], std::string("rates['") + k + "']");
    if (!(v > 0) || !std::isfinite(v)) throw InvalidArgument("rates", std::string("'") + k + "' must be > 0");
    return v;
  };
  r.gemm_flops_per_s = rate("gemm_flops_per_s");
  r.thin_gemm_flops_per_s = rate("thin_gemm_flops_per_s");
  r.exp_per_s = rate("exp_per_s");
  r.bytes_per_s = rate("bytes_per_s");
  return r;
}

py::dict cost_of(const std::string& algorithm, const py::handle& L, const py::handle& d, const py::handle& r,
                 const std::string& mode, const py::handle& batch, const std::string& dtype, const py::object& T) {
  ProblemShape s = shape_from(L, d, r, mode, batch);
  if (!T.is_none()) {
    s.score_bound = real_arg(T, "T");
    if (!(s.score_bound >= 0) || !std::isfinite(s.score_bound)) throw InvalidArgument("T", "must be finite and >= 0");
  }
  const auto a = make_algorithm(algorithm);  // its cost follows its own `weights` option
  const Cost c = a->cost(s, scalar_bytes_arg(dtype));
  if (!std::isfinite(c.flops))
    throw InvalidArgument("T", a->name() + "'s cost depends on the score bound: give T (or fix the degree option)");
  py::dict out;
  out["algorithm"] = a->spec();
  out["flops"] = c.flops;
  out["exps"] = c.exps;
  out["bytes"] = c.bytes;
  out["flop_kind"] = to_string(c.flop_kind);
  out["rows"] = c.rows;
  out["gathered_flops"] = c.gathered_flops;
  return out;
}

// A count of a cost() dict: present (unless optional), finite and >= 0.
double count_in(const py::dict& cost, const char* key, bool optional = false) {
  if (!cost.contains(key)) {
    if (optional) return 0.0;
    throw InvalidArgument("cost", std::string("has no '") + key + "' (pass a lorafgc.lora.cost() dict)");
  }
  const double v = real_arg(cost[key], std::string("cost['") + key + "']");
  if (!(v >= 0) || !std::isfinite(v))
    throw InvalidArgument("cost", std::string("'") + key + "' must be finite and >= 0");
  return v;
}

double predicted_from(const py::dict& cost, const py::dict& rates, const py::object& calibration) {
  Cost c;
  c.flops = count_in(cost, "flops");
  c.exps = count_in(cost, "exps");
  c.bytes = count_in(cost, "bytes");
  c.rows = count_in(cost, "rows", true);
  c.gathered_flops = count_in(cost, "gathered_flops", true);
  const std::string kind = cost.contains("flop_kind") ? py::str(cost["flop_kind"]).cast<std::string>() : "";
  if (kind != "thin_gemm" && kind != "register_tiled")
    throw InvalidArgument("cost", "'flop_kind' must be 'thin_gemm' or 'register_tiled', got '" + kind + "'");
  c.flop_kind = kind == "thin_gemm" ? FlopKind::thin_gemm : FlopKind::register_tiled;
  if (calibration.is_none()) return predicted_seconds(c, rates_from(rates));
  const py::dict k = calibration.cast<py::dict>();
  AlgorithmCalibration a;
  a.efficiency = real_arg(k["efficiency"], "calibration['efficiency']");
  a.seconds_per_call = real_arg(k["seconds_per_call"], "calibration['seconds_per_call']");
  a.seconds_per_row = real_arg(k["seconds_per_row"], "calibration['seconds_per_row']");
  if (!(a.efficiency > 0)) throw InvalidArgument("calibration", "'efficiency' must be > 0");
  return predicted_seconds(c, rates_from(rates), a);
}

py::dict calibrate_algorithm_dict(const std::string& algorithm, const py::handle& d, const py::handle& r,
                                  const std::string& mode, const std::string& dtype, const py::dict& rates) {
  const ProblemShape s = shape_from(py::int_(1), d, r, mode, py::int_(1));
  const AlgorithmCalibration a = calibrate_algorithm(algorithm, s, scalar_bytes_arg(dtype), rates_from(rates));
  py::dict out;
  out["efficiency"] = a.efficiency;
  out["seconds_per_call"] = a.seconds_per_call;
  out["seconds_per_row"] = a.seconds_per_row;
  out["seconds"] = a.seconds;
  return out;
}

AutoOptions auto_options(const py::handle& target_error, const py::handle& margin, const py::handle& threads,
                         const py::handle& calibrated) {
  if (!py::isinstance<py::bool_>(calibrated)) throw InvalidArgument("calibrated", "expected True or False");
  AutoOptions o;
  o.target_error = real_arg(target_error, "target_error");
  o.margin = real_arg(margin, "margin");
  o.threads = static_cast<int>(count_arg(threads, "threads", Quantity::threads));
  o.calibrated = calibrated.cast<bool>();
  validate(o);
  return o;
}

py::object none_if_nan(double v) { return std::isfinite(v) ? py::object(py::float_(v)) : py::none(); }

py::dict plan_dict(const AutoPlan& plan) {
  py::list rows;
  for (const PlanRow& row : plan.rows) {
    py::dict r;
    r["algorithm"] = row.algorithm;
    r["spec"] = row.spec.empty() ? py::object(py::none()) : py::object(py::str(row.spec));
    r["expected_error"] = none_if_nan(row.expected_error);
    r["reason"] = row.reason.empty() ? py::object(py::none()) : py::object(py::str(row.reason));
    r["predicted_seconds"] = none_if_nan(row.predicted_seconds);
    r["calibrated"] = row.calibrated;
    r["at_least"] = row.at_least;  // predicted_seconds is a floor; flops and exps not computed
    r["flops"] = row.at_least ? py::object(py::none()) : none_if_nan(row.cost.flops);
    r["exps"] = row.at_least ? py::object(py::none()) : none_if_nan(row.cost.exps);
    r["costing_seconds"] = row.costing_seconds;
    rows.append(r);
  }
  py::dict out;
  out["target_error"] = plan.options.target_error;
  out["margin"] = plan.options.margin;
  out["dtype"] = plan.scalar_bytes == 4 ? "float32" : "float64";
  out["rows"] = rows;
  out["chosen"] = plan.chosen < 0 ? py::object(py::none()) : py::object(py::str(plan.rows[plan.chosen].spec));
  out["closest"] = plan.closest < 0 ? py::object(py::none()) : py::object(py::str(plan.rows[plan.closest].algorithm));
  out["message"] = plan.chosen < 0 ? py::object(py::str(plan.unmet())) : py::object(py::none());
  out["planning_seconds"] = plan.seconds;
  return out;
}

template <class T>
py::dict run_plan(const py::array& X, const py::handle& Wq, const py::handle& Wk, const py::handle& Wv,
                  const py::handle& Y, const py::dict& adapters, double alpha, double beta, const AutoOptions& o) {
  const Problem<T> p = build_problem<T>(X, Wq, Wk, Wv, Y, adapters, alpha, beta);
  AutoPlan plan;
  {
    py::gil_scoped_release release;
    plan = plan_auto(p, o);
  }
  return plan_dict(plan);
}

py::dict plan_instance(const py::handle& X, const py::handle& Wq, const py::handle& Wk, const py::handle& Wv,
                       const py::handle& Y, const py::handle& adapters, const py::handle& alpha_arg,
                       const py::handle& beta_arg, const py::handle& target_error, const py::handle& margin,
                       const py::handle& threads, const py::handle& calibrated) {
  const AutoOptions o = auto_options(target_error, margin, threads, calibrated);
  const double alpha = real_arg(alpha_arg, "alpha"), beta = real_arg(beta_arg, "beta");
  const py::array x = as_array(X, "X");
  if (!py::isinstance<py::dict>(adapters))
    throw InvalidArgument("adapters", "expected a dict mapping 'q', 'k', 'v' to (B, A)");
  const auto ad = adapters.cast<py::dict>();
  if (x.dtype().kind() == 'f' && x.itemsize() == 4) return run_plan<float>(x, Wq, Wk, Wv, Y, ad, alpha, beta, o);
  if (x.dtype().kind() == 'f' && x.itemsize() == 8) return run_plan<double>(x, Wq, Wk, Wv, Y, ad, alpha, beta, o);
  throw InvalidArgument("X", "dtype " + dtype_of(x) + " is not supported (use float32 or float64)");
}

py::dict plan_shape(const py::handle& L, const py::handle& d, const py::handle& r, const std::string& mode,
                    const py::handle& batch, const std::string& dtype, const py::object& T,
                    const py::handle& target_error, const py::handle& margin, const py::handle& threads,
                    const py::handle& calibrated) {
  const AutoOptions o = auto_options(target_error, margin, threads, calibrated);
  ProblemShape s = shape_from(L, d, r, mode, batch);
  s.score_bound = real_arg(T, "T");
  if (!(s.score_bound >= 0) || !std::isfinite(s.score_bound)) throw InvalidArgument("T", "must be finite and >= 0");
  const int bytes = scalar_bytes_arg(dtype);
  AutoPlan plan;
  {
    py::gil_scoped_release release;
    plan = plan_auto(s, bytes, o);
  }
  return plan_dict(plan);
}

}  // namespace

void bind_lora(py::module_& m) {
  m.def("gradients", &lora_gradients, py::arg("X"), py::arg("Wq"), py::arg("Wk"), py::arg("Wv"),
        py::arg("Y"), py::arg("adapters"), py::arg("alpha"), py::arg("beta") = 1.0,
        py::arg("algorithm") = "exact",
        "Loss and LoRA gradients of one attention head.\n\n"
        "X, Y: (L, d) or (batch, L, d); Wq, Wk, Wv: (d, d); adapters: {'q': (B, A), 'v': (B, A), ['k': ...]}\n"
        "with B (d, r), A (r, d); all float32 or all float64. algorithm: a registry name, optionally with\n"
        "options ('exact:block=32'); further keyword arguments are options too (weights=True adds the\n"
        "d x d weight gradients). Returns {'loss', 'q': (dB, dA), 'v': (dB, dA), ..., 'info', 'algorithm'}.");
  py::class_<Collectives, PyCollectives>(m, "Collectives",
                                        "Base of the collectives sequence_parallel_gradients talks through: define "
                                        "rank(), size(), sum(values), max(values) (in place, every process's values "
                                        "combined) and gather_all(mine, all, counts) (bytes, rank order). "
                                        "lorafgc.mpi.MpiCollectives implements them over mpi4py.")
      .def(py::init<>());
  m.def("sequence_parallel_gradients", &lora_sequence_parallel, py::arg("X"), py::arg("Wq"), py::arg("Wk"),
        py::arg("Wv"), py::arg("Y"), py::arg("adapters"), py::arg("alpha"), py::arg("beta") = 1.0,
        py::arg("algorithm") = "exact", py::arg("comm") = py::none(),
        "gradients() of a problem whose rows are split over processes (docs/sequence-parallel.md): X, Y are\n"
        "this process's rows shard_rows(L, P, rank) of every sequence; comm a Collectives (None: one process).\n"
        "Every process returns the gradients of the whole problem. exact, poly-cheb and poly-taylor\n"
        "(range_rows=0) have a sequence-parallel form; refusals (P > L, shards that differ) reach every process.");
  m.def("shard_rows", [](long long L, int processes, int rank) {
          const RowRange r = shard_rows(L, processes, rank);
          return py::make_tuple(r.first, r.first + r.count);
        }, py::arg("L"), py::arg("processes"), py::arg("rank"),
        "(start, stop): the rows of a sequence of L rows that process `rank` of `processes` holds.");
  m.def("generate", &generate_instance, py::arg("L"), py::arg("d"), py::arg("r"), py::arg("gamma"),
        py::arg("mode") = "partial", py::arg("dtype") = "float64", py::arg("seed") = 1,
        py::arg("batch") = py::none(), py::arg("lora_share") = 0.25, py::arg("alpha") = 8.0,
        py::arg("beta") = 1.0, py::arg("score_bound") = 0.0, py::arg("family") = "gaussian",
        py::arg("key_share") = 3.0, py::arg("outlier_channels") = 2, py::arg("outlier_scale") = 8.0,
        py::arg("spectrum_decay") = 1.0, py::arg("adversarial_noise") = 0.05,
        "A seeded instance with max|X W_mu| = gamma, as keyword arguments for gradients().\n"
        "score_bound > 0 instead rescales W_q, W_k so that T = |beta| max||Q_i|| max||K_j|| equals it.\n"
        "family: 'gaussian' (N(0, 1) tokens), 'llm' (keys b + g_j with ||b|| = key_share max||g_j||,\n"
        "outlier_channels Student-t channels at outlier_scale times the RMS entry, principal scales\n"
        "(k + 1)^-spectrum_decay) or 'adversarial' (tokens +-u plus adversarial_noise, W_k* = W_q*:\n"
        "scores at the ends of their range). The llm and adversarial parameters are ignored otherwise.");
  m.def("score_range", &lora_score_range, py::arg("X"), py::arg("Wq"), py::arg("Wk"), py::arg("Wv"),
        py::arg("Y"), py::arg("adapters"), py::arg("alpha"), py::arg("beta") = 1.0, py::arg("centre") = true,
        py::arg("range_rows") = 64,
        "The certified score range of an instance (same arguments as gradients()): T_cauchy_schwarz =\n"
        "|beta| max||Q_i|| max||K_j||, T_centred (keys centred), and T_used >= every row-shifted |score|,\n"
        "the interval poly fits exp on (docs/lora-gradients.md, 'Certified score range').");
  m.def("kernel_target", &kernel_target,
        "The SIMD target the runtime-dispatched kernels (exact's fused schedule) run on here: 'AVX3' (AVX-512), 'AVX2', ...");
  m.def("calibrate", [](const std::string& dtype, const py::handle& threads) {
          return rates_dict(calibrate_machine(scalar_bytes_arg(dtype),
                                              static_cast<int>(count_arg(threads, "threads", Quantity::threads))));
        }, py::arg("dtype") = "float32", py::arg("threads") = 0,
        "This machine's rates for the cost model (about 0.5 s): square GEMM and thin GEMM flop/s, exp/s and\n"
        "bytes/s beyond L2, all threads busy (threads = 0: the current default). docs/cost-model.md.");
  m.def("cost", &cost_of, py::arg("algorithm"), py::arg("L"), py::arg("d"), py::arg("r") = 4,
        py::arg("mode") = "partial", py::arg("batch") = 1, py::arg("dtype") = "float32", py::arg("T") = py::none(),
        "What an algorithm spec declares for a shape: flops, exps, bytes and the flop kind. The polynomial\n"
        "method needs T, the range its degree follows (or a fixed degree option).");
  m.def("predicted_seconds", &predicted_from, py::arg("cost"), py::arg("rates"), py::arg("calibration") = py::none(),
        "max(flops / rate of their kind + exps / exp rate, bytes / bandwidth), from cost() and calibrate() dicts:\n"
        "the limit; with a calibrate_algorithm() dict, limit / efficiency + per-call + per-row overheads.");
  m.def("calibrate_algorithm", &calibrate_algorithm_dict, py::arg("algorithm"), py::arg("d"), py::arg("r") = 4,
        py::arg("mode") = "partial", py::arg("dtype") = "float32", py::arg("rates") = py::dict(),
        "Times the algorithm spec on 5 (exact) or 7 (polynomial) calibration shapes of width d and fits its\n"
        "efficiency against the limit and its per-call and per-row overheads by least squares\n"
        "(docs/cost-model.md). rates: a calibrate() dict.");
  m.def("plan_instance", &plan_instance, py::arg("X"), py::arg("Wq"), py::arg("Wk"), py::arg("Wv"), py::arg("Y"),
        py::arg("adapters"), py::arg("alpha"), py::arg("beta") = 1.0, py::arg("target_error") = 1e-3,
        py::arg("margin") = 1.0, py::arg("threads") = 0, py::arg("calibrated") = true,
        "auto's plan on an instance (same arguments as gradients()), without running: lorafgc.lora.plan.");
  m.def("plan_shape", &plan_shape, py::arg("L"), py::arg("d"), py::arg("r"), py::arg("mode"), py::arg("batch"),
        py::arg("dtype"), py::arg("T"), py::arg("target_error") = 1e-3, py::arg("margin") = 1.0,
        py::arg("threads") = 0, py::arg("calibrated") = true,
        "auto's plan on a shape with score bound T, without running: lorafgc.lora.plan.");
  m.def(
      "check_spec", [](const std::string& algorithm) { make_algorithm(algorithm); },
      py::arg("algorithm"),
      "Raises ValueError naming what is wrong with an algorithm spec (unknown name, option or value); checks the spec "
      "only, nothing about the data it will meet.");
  m.def("algorithms", &algorithm_table,
        "The registry: one dict per algorithm with name, description, exact, oracle, selector, variants and\n"
        "options {name: (default, help)}.");
}

}  // namespace lorafgc::python
