// lorafgc-run: generate one instance and put it through chosen algorithms; print
// loss, gradient norms, agreement with the first algorithm, time and peak memory.
// The README's main command runs it on a small default.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/heap.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/core/machine.hpp>
#include <lorafgc/core/system_info.hpp>
#include <lorafgc/core/timing.hpp>
#include <lorafgc/lora/error_metrics.hpp>
#include <lorafgc/lora/generator.hpp>
#include <lorafgc/lora/registry.hpp>

#include "cli.hpp"

#include <cstdio>
#include <limits>

namespace {

using namespace lorafgc;
using namespace lorafgc::lora;

struct Args {
  GeneratorConfig gen;
  std::string mode = "partial", dtype = "float64", family = "gaussian";
  // Every exact algorithm in its default configuration: the oracle first.
  std::vector<std::string> algorithms = registered_specs([](const Registration& r) { return r.exact; }, true);
  int threads = 0, repeat = 3;
};

template <class T>
int run(const Args& args) {
  // Every spec is parsed before the instance is generated: a typo fails at once, not after minutes.
  std::vector<std::unique_ptr<Algorithm>> algorithms;
  for (const auto& spec : args.algorithms) algorithms.push_back(make_algorithm(spec));
  const Problem<T> problem = generate<T>(args.gen);
  fmt::print("instance: L={} d={} r={} batch={} gamma={} mode={} dtype={} seed={} family={}\n", args.gen.length,
             args.gen.width, args.gen.rank, args.gen.batch, args.gen.gamma, args.mode, dtype_name<T>(),
             args.gen.seed, args.family);
  fmt::print("score bound T={:.6g}  measured max|X W|: q={:.6g} k={:.6g} v={:.6g}\n", problem.score_bound(), projection_max_abs(problem, Projection::Q),
             projection_max_abs(problem, Projection::K), projection_max_abs(problem, Projection::V));
  fmt::print("cpu: {} ({})  threads: omp={} blas={}  blas: {}  OPENBLAS_CORETYPE={}\n", cpu_model(), vector_isa(),
             omp_threads(), blas_threads(), blas_config(), openblas_coretype());
  fmt::print("build: {}\n\n", build_description());
  fmt::print("{:<18} {:>14} {:>11} {:>11} {:>11} {:>11} {:>12} {:>10} {:>10}  {}\n", "algorithm", "loss", "|dA_q|",
             "|dB_q|", "|dA_v|", "|dB_v|", "max err/ref", "median s", "GFLOP/s", "info");
  std::optional<Gradients<T>> first;
  for (std::size_t a = 0; a < algorithms.size(); ++a) {
    const auto& algorithm = algorithms[a];
    const std::string& spec = args.algorithms[a];
    Gradients<T> g;
    const double median = time_repetitions(args.repeat, std::numeric_limits<double>::infinity(), [&] {
                            g = algorithm->compute(problem);
                          }).median;
    if (!first) first = g;
    // Both modes adapt W_q and W_v.
    const auto& q = *g.adapter[index(Projection::Q)];
    const auto& v = *g.adapter[index(Projection::V)];
    std::string info;
    for (const auto& [k, val] : g.info) info += fmt::format("{}={:.4g} ", k, val);
    // stableNorm: the Frobenius norm of finite entries near the dtype's limit stays finite.
    const auto norm = [](const Matrix<T>& m) { return m.template cast<double>().stableNorm(); };
    fmt::print("{:<18} {:>14.8g} {:>11.4e} {:>11.4e} {:>11.4e} {:>11.4e} {:>12.3e} {:>10.4f} {:>10.2f}  {}\n", spec,
               g.loss, norm(q.dA), norm(q.dB), norm(v.dA), norm(v.dB), compare_gradients(g, *first).max_rel, median,
               (g.info.count("flops") ? g.info.at("flops") : algorithm->flops(shape_of(problem))) / median * 1e-9,
               info);
  }
  fmt::print("\npeak resident memory: {:.1f} MiB\n", peak_rss_bytes() / 1048576.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  lorafgc::retain_freed_memory();
  Args args;
  CLI::App app{"Generate a LoRA attention instance and compute its gradients with chosen algorithms."};
  app.add_option("--L", args.gen.length, "sequence length")->capture_default_str();
  app.add_option("--d", args.gen.width, "head width")->capture_default_str();
  app.add_option("--r", args.gen.rank, "LoRA rank")->capture_default_str();
  app.add_option("--batch", args.gen.batch, "sequences in the batch")->capture_default_str();
  app.add_option("--gamma", args.gen.gamma, "max entry of X W_q, X W_k, X W_v")->capture_default_str();
  app.add_option("--T", args.gen.score_bound, "target score bound T (overrides gamma for Q, K; 0: off)")
      ->capture_default_str();
  app.add_option("--beta", args.gen.beta, "inverse temperature")->capture_default_str();
  app.add_option("--alpha", args.gen.alpha, "LoRA alpha (scale alpha / r)")->capture_default_str();
  app.add_option("--seed", args.gen.seed, "generator seed")->capture_default_str();
  app.add_option("--family", args.family, "instance family: gaussian, llm or adversarial (docs/instance-families.md)")
      ->capture_default_str();
  app.add_option("--key-share", args.gen.llm.key_share, "llm: ||shared key component|| / max||g_j||")
      ->capture_default_str();
  app.add_option("--outlier-channels", args.gen.llm.outlier_channels, "llm: heavy-tailed channels of X")
      ->capture_default_str();
  app.add_option("--outlier-scale", args.gen.llm.outlier_scale, "llm: their scale over the RMS entry")
      ->capture_default_str();
  app.add_option("--spectrum-decay", args.gen.llm.spectrum_decay, "llm: principal scale (k + 1)^-decay")
      ->capture_default_str();
  app.add_option("--adversarial-noise", args.gen.adversarial_noise, "adversarial: token noise around +-u")
      ->capture_default_str();
  app.add_option("--mode", args.mode, "partial (Q, V) or full (Q, K, V)")
      ->check(CLI::IsMember({"partial", "full"}))->capture_default_str();
  app.add_option("--dtype", args.dtype, "float32 or float64")
      ->check(CLI::IsMember({"float32", "float64"}))->capture_default_str();
  app.add_option("--algorithms", args.algorithms, "algorithm specs; errors are relative to the first")
      ->capture_default_str();
  app.add_option("--threads", args.threads, "OpenMP/BLAS threads (0: default)")->capture_default_str();
  app.add_option("--repeat", args.repeat, "timed repetitions (median reported)")->capture_default_str();
  bool machine = false;
  app.add_flag("--machine", machine, "print the machine description (CPU, vector ISA, BLAS kernels, threads) and exit");
  app.footer(algorithms_help());
  return cli::run("lorafgc-run", app, argc, argv, [&] {
    if (machine) {
      for (const auto& f : describe_machine().fields()) fmt::print("{}: {}\n", f.key, f.text);
      return 0;
    }
    args.gen.adaptation = parse_adaptation(args.mode);
    args.gen.family = parse_family(args.family);
    require_count("--repeat", args.repeat, Quantity::repetitions);
    set_threads(args.threads);
    return args.dtype == "float32" ? run<float>(args) : run<double>(args);
  });
}
