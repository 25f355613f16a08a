// lorafgc-sweep: run a grid of (algorithm x mode x dtype x d x r x gamma|T x L)
// from a JSON config, appending one JSON record per point to a results file
// that a killed sweep resumes from. See README, "Run a sweep".
//
//   lorafgc-sweep run CONFIG --output results.jsonl
//   lorafgc-sweep check CONFIG           (validate, print the number of points)
#include "cli.hpp"
#include "sweep/results_file.hpp"
#include "sweep/sweep_config.hpp"

#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/machine.hpp>
#include <lorafgc/lora/kernels.hpp>
#include <lorafgc/core/system_info.hpp>
#include <lorafgc/core/timing.hpp>
#include <lorafgc/lora/cost_model.hpp>
#include <lorafgc/lora/error_metrics.hpp>
#include <lorafgc/lora/generator.hpp>
#include <lorafgc/lora/registry.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>

namespace {

using namespace lorafgc;
using namespace lorafgc::lora;
using namespace lorafgc::sweep;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

json rates_json(const MachineRates& r) {
  return {{"threads", r.threads},         {"gemm_flops_per_s", r.gemm_flops_per_s},
          {"exp_per_s", r.exp_per_s},     {"thin_gemm_flops_per_s", r.thin_gemm_flops_per_s},
          {"bytes_per_s", r.bytes_per_s}, {"seconds", r.seconds}};
}

// The key of an algorithm calibration in the header (tools/report/cost_model.py reads it).
std::string calibration_key(const std::string& spec, long long d, long long r, const std::string& mode,
                            const std::string& dtype) {
  return fmt::format("{}|d={}|r={}|{}|{}", spec, d, r, mode, dtype);
}

// The machine, its cost-model rates per dtype of the sweep, and every
// (algorithm, d, r, mode, dtype)'s calibration against them, measured once per
// results file (a resumed file keeps the header it began with).
json machine_description(const SweepConfig& c) {
  json out = json::object();
  for (const auto& f : describe_machine().fields()) out[f.key] = f.numeric ? json::parse(f.text) : json(f.text);
  out["kernel_target"] = lora::kernel_target();
  for (const std::string& dtype : c.dtypes) {
    const int bytes = dtype == "float32" ? 4 : 8;
    const MachineRates rates = calibrate_machine(bytes);
    out["calibration"][dtype] = rates_json(rates);
    for (const std::string& spec : c.algorithms)
      for (long long d : c.widths)
        for (long long r : c.ranks)
          for (const std::string& mode : c.modes) {
            ProblemShape shape;
            shape.width = d;
            shape.rank = r;
            shape.adapted = {true, mode == "full", true};
            json& slot = out["algorithm_calibration"][calibration_key(spec, d, r, mode, dtype)];
            try {
              const AlgorithmCalibration a = calibrate_algorithm(spec, shape, bytes, rates);
              slot = {{"efficiency", a.efficiency},
                      {"seconds_per_call", a.seconds_per_call},
                      {"seconds_per_row", a.seconds_per_row},
                      {"seconds", a.seconds}};
            } catch (const std::exception& e) {  // the sweep's points report their own refusals
              slot = {{"error", e.what()}};
            }
          }
  }
  return out;
}

json cost_json(const Cost& c, const char* range) {
  auto number = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  return {{"flops", number(c.flops)}, {"exps", number(c.exps)}, {"bytes", number(c.bytes)},
          {"flop_kind", to_string(c.flop_kind)}, {"rows", c.rows}, {"range", range},
          {"gathered_flops", number(c.gathered_flops)}, {"gathered_flop_weight", kGatheredFlopWeight}};
}

std::string clock_text(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
}

json metrics_json(const ErrorMetrics& e) {
  return {{"max_abs", e.max_abs}, {"max_rel", e.max_rel}, {"fro_rel", e.frobenius_rel}, {"loss_abs", e.loss_abs}};
}

class Runner {
 public:
  Runner(const SweepConfig& c, ResultsFile& out, bool quiet) : c_(c), out_(out), quiet_(quiet) {
    total_ = c.point_count();
    remaining_ = total_ - std::min(total_, out.existing());
  }

  void run() {
    for (long long d : c_.widths)
      for (long long r : c_.ranks)
        for (const auto& mode : c_.modes)
          for (const auto& dtype : c_.dtypes)
            for (double norm : c_.norms)
              for (long long L : c_.lengths) {
                if (dtype == "float32")
                  instance<float>(d, r, mode, dtype, norm, L);
                else
                  instance<double>(d, r, mode, dtype, norm, L);
              }
  }

 private:
  json base_record(const std::string& spec, const std::string& mode, const std::string& dtype, long long L,
                   long long d, long long r, double norm) const {
    return {{"type", "point"}, {"algorithm", spec}, {"name", parse_algorithm_spec(spec).name},
            {"mode", mode},    {"dtype", dtype},    {"L", L},
            {"d", d},          {"r", r},            {"norm_axis", c_.norm_axis},
            {"norm", norm},    {"batch", c_.batch},  {"family", family_name(c_.instances.family)}};
  }

  template <class T>
  void instance(long long d, long long r, const std::string& mode, const std::string& dtype, double norm,
                long long L) {
    std::vector<std::string> todo;
    for (const auto& spec : c_.algorithms)
      if (!out_.has(point_key(base_record(spec, mode, dtype, L, d, r, norm)))) todo.push_back(spec);
    if (todo.empty()) return;
    GeneratorConfig g = c_.instances;
    g.length = L;
    g.width = d;
    g.rank = r;
    g.batch = c_.batch;
    g.adaptation = parse_adaptation(mode);
    g.seed = c_.seed;
    if (c_.norm_axis == "gamma")
      g.gamma = norm;
    else
      g.score_bound = norm;
    const Problem<T> problem = generate<T>(g);
    ProblemShape shape = shape_of(problem);
    // The truth for error metrics: the reference in float64 on the same data.
    std::optional<Gradients<double>> truth;
    if (L <= c_.max_reference_length) {
      truth = make_algorithm(c_.reference)->compute(to_float64(problem));
    }
    for (const auto& spec : todo) {
      json rec = base_record(spec, mode, dtype, L, d, r, norm);
      rec["score_bound"] = shape.score_bound;
      rec["gamma_measured"] = projection_max_abs(problem, Projection::Q);
      point(problem, shape, spec, truth, rec);
      rec["threads"] = {{"omp", omp_threads()}, {"blas", blas_threads()}};
      rec["timestamp"] = static_cast<long long>(std::time(nullptr));
      out_.append(rec);
      report(rec);
    }
  }

  template <class T>
  void point(const Problem<T>& problem, const ProblemShape& shape, const std::string& spec,
             const std::optional<Gradients<double>>& truth, json& rec) {
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
      rec["status"] = "refused";
      rec["message"] = e.what();
      return;
    }
    auto number = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
    rec["flops"] = number(flops);
    rec["cost_model"] = {{"flops", number(flops)}, {"workspace_bytes", number(workspace)}};
    rec["cost"] = cost_json(algorithm->cost(shape, sizeof(T)), "T_cauchy_schwarz");
    // Skip a point the last measured rate says would exceed the time limit. An
    // algorithm whose shape cost is unknown (it decides from the data) is
    // costed on the instance, as it will plan it.
    double limit_flops = flops;
    try {
      // One-time setup (auto's calibrations) stays out of the timing.
      const auto prepare_start = Clock::now();
      algorithm->prepare(shape, sizeof(T));
      rec["prepare_s"] = std::chrono::duration<double>(Clock::now() - prepare_start).count();
      if (!std::isfinite(limit_flops)) limit_flops = algorithm->instance_cost(problem, shape).flops;
    } catch (const InvalidArgument& e) {
      rec["status"] = "refused";
      rec["message"] = e.what();
      return;
    }
    const std::string rate_key = spec + "|" + std::to_string(shape.width) + "|" + rec["mode"].get<std::string>();
    if (rates_.count(rate_key) && std::isfinite(limit_flops)) {
      const double predicted = limit_flops / rates_[rate_key];
      if (predicted > c_.time_limit_s) {
        rec["status"] = "over_time_limit";
        rec["predicted_s"] = predicted;
        rec["message"] = fmt::format("predicted {:.3g} s > time_limit_s {}", predicted, c_.time_limit_s);
        return;
      }
    }
    TimingSummary times;
    Gradients<T> g;
    reset_peak_rss();
    try {
      // One over-long repetition is enough.
      times = time_repetitions(c_.repetitions, c_.time_limit_s, [&] { g = algorithm->compute(problem); }, c_.min_time_s);
    } catch (const InvalidArgument& e) {
      rec["status"] = "refused";
      rec["message"] = e.what();
      return;
    } catch (const NumericalError& e) {
      rec["status"] = "error";
      rec["message"] = e.what();
      return;
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
    // The cost of the plan that ran: a polynomial's degree follows the range it
    // follows the data's range (info T_used, rounded up to the grid as in the run).
    if (g.info.count("T_used")) {
      ProblemShape used = shape;
      used.score_bound = g.info.at("T_used");
      rec["cost"] = cost_json(algorithm->cost(used, sizeof(T)), "T_used");
    }
    rec["error"] = truth ? metrics_json(compare_gradients(g, *truth)) : json(nullptr);
    if (std::isfinite(limit_flops) && times.min > 0) rates_[rate_key] = limit_flops / times.min;
  }

  void report(const json& rec) {
    ++done_;
    --remaining_;
    if (quiet_) return;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const double eta = done_ ? elapsed / done_ * remaining_ : 0;
    std::string what = rec["status"] == "ok"
                           ? fmt::format("{:.4g} s", rec["median_s"].get<double>())
                           : rec["status"].get<std::string>();
    if (rec.contains("error") && rec["error"].is_object())
      what += fmt::format(", err {:.2g}", rec["error"]["max_rel"].get<double>());
    fmt::print(stderr, "[{}/{}] elapsed {} ETA {}  {} {} {} d={} L={} {}={}: {}\n", total_ - remaining_, total_,
               clock_text(elapsed), clock_text(eta), rec["algorithm"].get<std::string>(),
               rec["mode"].get<std::string>(), rec["dtype"].get<std::string>(), rec["d"].get<long long>(),
               rec["L"].get<long long>(), c_.norm_axis, rec["norm"].get<double>(), what);
  }

  const SweepConfig& c_;
  ResultsFile& out_;
  bool quiet_;
  std::size_t total_ = 0, remaining_ = 0, done_ = 0;
  std::map<std::string, double> rates_;
  Clock::time_point start_ = Clock::now();
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Run a lorafgc sweep from a JSON config; results go one JSON line per point."};
  app.require_subcommand(1);
  std::string config_path, output;
  bool quiet = false;
  auto* run = app.add_subcommand("run", "run (or resume) a sweep");
  run->add_option("config", config_path, "sweep config (JSON)")->required();
  run->add_option("--output,-o", output, "results file (JSON Lines); an existing one is resumed")->required();
  run->add_flag("--quiet,-q", quiet, "no progress lines");
  auto* check = app.add_subcommand("check", "validate a config and print its number of points");
  check->add_option("config", config_path, "sweep config (JSON)")->required();
  return cli::run("lorafgc-sweep", app, argc, argv, [&] {
    const SweepConfig config = load_sweep_config(config_path);
    if (check->parsed()) {
      fmt::print("{}: {} points, config hash {}\n", config.name, config.point_count(), config.hash());
      return 0;
    }
    set_threads(config.threads);
    ResultsFile results(output, config, [&] { return machine_description(config); });
    if (results.torn_lines())
      fmt::print(stderr, "lorafgc-sweep: {} torn line(s) in {} (cut from the end into {} where last)\n",
                 results.torn_lines(), output, results.side_file());
    if (results.existing())
      fmt::print(stderr, "lorafgc-sweep: resuming, {} of {} points already in {}\n", results.existing(),
                 config.point_count(), output);
    Runner(config, results, quiet).run();
    return 0;
  });
}
