#include "chain_runner.hpp"

#include "results_file.hpp"

#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/heap.hpp>
#include <lorafgc/core/system_info.hpp>
#include <lorafgc/core/timing.hpp>
#include <lorafgc/lora/cost_model.hpp>
#include <lorafgc/lora/error_metrics.hpp>
#include <lorafgc/lora/generator.hpp>
#include <lorafgc/lora/registry.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <optional>

namespace lorafgc::sweep {

namespace {

using namespace lorafgc::lora;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json cost_json(const Cost& c, const char* range) {
  return {{"flops", number(c.flops)}, {"exps", number(c.exps)}, {"bytes", number(c.bytes)},
          {"flop_kind", to_string(c.flop_kind)}, {"rows", c.rows}, {"range", range},
          {"gathered_flops", number(c.gathered_flops)}, {"gathered_flop_weight", kGatheredFlopWeight}};
}

json metrics_json(const ErrorMetrics& e) {
  return {{"max_abs", e.max_abs}, {"max_rel", e.max_rel}, {"fro_rel", e.frobenius_rel}, {"loss_abs", e.loss_abs}};
}

void refuse(json& rec, const char* status, const std::exception& e) {
  rec["status"] = status;
  rec["message"] = e.what();
}

// One point: measured into rec, or refused / skipped with the reason. rates:
// the chain's last measured flop rate per algorithm (the time-limit predictor).
template <class T>
void measure(const SweepConfig& c, const Problem<T>& problem, const ProblemShape& shape, const std::string& spec,
             const std::optional<Gradients<double>>& truth, std::map<std::string, double>& rates, json& rec) {
  const auto algorithm = make_algorithm(spec);
  const Registration& registered = registration(algorithm->name());
  rec["spec"] = algorithm->spec();
  rec["exact"] = registered.exact;
  rec["oracle"] = registered.oracle;
  rec["selector"] = registered.selector;
  double flops = std::nan(""), workspace = std::nan("");
  try {
    flops = algorithm->flops(shape);
    workspace = algorithm->workspace_bytes(shape, sizeof(T));
  } catch (const InvalidArgument& e) {
    return refuse(rec, "refused", e);
  }
  rec["flops"] = number(flops);
  rec["cost_model"] = {{"flops", number(flops)}, {"workspace_bytes", number(workspace)}};
  rec["cost"] = cost_json(algorithm->cost(shape, sizeof(T)), "T_cauchy_schwarz");
  // An algorithm whose shape cost is unknown (it decides from the data) is
  // costed on the instance, as it will plan it.
  double limit_flops = flops;
  try {
    // One-time setup (auto's calibrations) stays out of the timing.
    const auto prepare_start = Clock::now();
    algorithm->prepare(shape, sizeof(T));
    rec["prepare_s"] = std::chrono::duration<double>(Clock::now() - prepare_start).count();
    if (!std::isfinite(limit_flops)) limit_flops = algorithm->instance_cost(problem, shape).flops;
  } catch (const InvalidArgument& e) {
    return refuse(rec, "refused", e);
  }
  if (rates.count(spec) && std::isfinite(limit_flops)) {
    const double predicted = limit_flops / rates[spec];
    if (predicted > c.time_limit_s) {
      rec["status"] = "over_time_limit";
      rec["predicted_s"] = predicted;
      rec["message"] = fmt::format("predicted {:.3g} s > time_limit_s {}", predicted, c.time_limit_s);
      return;
    }
  }
  TimingSummary times;
  Gradients<T> g;
  release_freed_memory();  // what earlier points kept is not this one's peak
  reset_peak_rss();
  try {
    // One over-long repetition is enough.
    times = time_repetitions(c.repetitions, c.time_limit_s, [&] { g = algorithm->compute(problem); }, c.min_time_s);
  } catch (const InvalidArgument& e) {
    return refuse(rec, "refused", e);
  } catch (const NumericalError& e) {
    return refuse(rec, "error", e);
  }
  rec["peak_rss_bytes"] = peak_rss_bytes();
  rec["status"] = "ok";
  rec["times_s"] = times.seconds;
  rec["repetitions"] = times.seconds.size();
  rec["median_s"] = times.median;
  rec["min_s"] = times.min;
  rec["loss"] = g.loss;
  for (const auto& [k, v] : g.info) rec["info"][k] = v;
  // What the run performed (an approximation may fit a range below the
  // shape's Cauchy-Schwarz bound); cost_model keeps the shape's prediction,
  // and the time-limit rate stays in the cost model's units.
  if (g.info.count("flops")) rec["flops"] = g.info.at("flops");
  // The cost of the plan that ran: a polynomial's degree follows the data's
  // range (info T_used, rounded up to the grid as in the run).
  if (g.info.count("T_used")) {
    ProblemShape used = shape;
    used.score_bound = g.info.at("T_used");
    rec["cost"] = cost_json(algorithm->cost(used, sizeof(T)), "T_used");
  }
  rec["error"] = truth ? metrics_json(compare_gradients(g, *truth)) : json(nullptr);
  // The fastest rate so far: one slow measurement (a busy neighbour) would
  // otherwise skip the next L on a prediction several times too long.
  if (std::isfinite(limit_flops) && times.min > 0) rates[spec] = std::max(rates[spec], limit_flops / times.min);
}

}  // namespace

std::vector<Chain> chains_of(const SweepConfig& c) {
  std::vector<Chain> out;
  for (long long d : c.widths)
    for (long long r : c.ranks)
      for (const auto& mode : c.modes)
        for (const auto& dtype : c.dtypes)
          for (double norm : c.norms) out.push_back({d, r, mode, dtype, norm});
  return out;
}

json ChainRunner::base_record(const SweepConfig& c, const std::string& spec, const Chain& chain, long long L) {
  return {{"type", "point"},  {"algorithm", spec},     {"name", parse_algorithm_spec(spec).name},
          {"mode", chain.mode}, {"dtype", chain.dtype}, {"L", L},
          {"d", chain.d},       {"r", chain.r},         {"norm_axis", c.norm_axis},
          {"norm", chain.norm}, {"batch", c.batch},    {"family", family_name(c.instances.family)}};
}

std::vector<std::string> ChainRunner::point_keys(const SweepConfig& c, const Chain& chain) {
  std::vector<std::string> keys;
  for (long long L : c.lengths)
    for (const auto& spec : c.algorithms) keys.push_back(point_key(base_record(c, spec, chain, L)));
  return keys;
}

void ChainRunner::run(const Chain& chain) {
  rates_.clear();
  for (long long L : c_.lengths) {
    if (chain.dtype == "float32")
      instance<float>(chain, L);
    else
      instance<double>(chain, L);
  }
}

template <class T>
void ChainRunner::instance(const Chain& chain, long long L) {
  std::vector<std::string> todo;
  for (const auto& spec : c_.algorithms)
    if (!done_(point_key(base_record(c_, spec, chain, L)))) todo.push_back(spec);
  if (todo.empty()) return;
  GeneratorConfig g = c_.instances;
  g.length = L;
  g.width = chain.d;
  g.rank = chain.r;
  g.batch = c_.batch;
  g.adaptation = parse_adaptation(chain.mode);
  g.seed = c_.seed;
  if (c_.norm_axis == "gamma")
    g.gamma = chain.norm;
  else
    g.score_bound = chain.norm;
  const Problem<T> problem = generate<T>(g);
  const ProblemShape shape = shape_of(problem);
  // The truth for error metrics: the reference in float64 on the same data.
  std::optional<Gradients<double>> truth;
  if (L <= c_.max_reference_length) truth = make_algorithm(c_.reference)->compute(to_float64(problem));
  for (const auto& spec : todo) {
    json rec = base_record(c_, spec, chain, L);
    rec["score_bound"] = shape.score_bound;
    rec["gamma_measured"] = projection_max_abs(problem, Projection::Q);
    measure(c_, problem, shape, spec, truth, rates_, rec);
    rec["threads"] = {{"omp", omp_threads()}, {"blas", blas_threads()}};
    rec["timestamp"] = static_cast<long long>(std::time(nullptr));
    record_(rec);
  }
}

}  // namespace lorafgc::sweep
