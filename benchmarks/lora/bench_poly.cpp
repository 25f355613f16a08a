// The polynomial method against exact: time vs L (2^10 .. 2^20) for d in
// {4, 8, 16} and score bounds T in {0.5, 1, 2}, float32, partial adaptation, r = 4.
// exact runs while it stays affordable (L <= --max_exact_L, default 2^14).
//
// In the same run, gemm_square/float32 (square_gemm.hpp): the SGEMM rate the
// performed flops are compared with.
//
// Counters: degree, rank, T (the certified range the degree follows), T_cauchy_schwarz (as the algorithm reports them), GFLOPs_performed,
// peak_MiB, and, for L <= --max_error_L (default 2^14), the measured error of
// the result against the exact baseline (`exact`) on the same instance: err_max_rel (||G~ - G||_max /
// ||G||_max over all adapter gradients), err_fro_rel, and err_bound_ratio (the
// measured max-abs error divided by the a-priori bound the algorithm reports).
// Slopes in L come from the JSON (log-log fit), not from Google Benchmark's
// Complexity(), which has no intercept.
//
// Flags beyond Google Benchmark's: --algorithms=spec;spec (default: every
// approximate variant in the registry, then exact; today
// poly-cheb;poly-taylor;exact), --max_exact_L, --max_error_L, --max_L, --r.
#include "benchmark_context.hpp"
#include "square_gemm.hpp"

#include <lorafgc/lora/error_metrics.hpp>
#include <lorafgc/lora/generator.hpp>
#include <lorafgc/lora/kernels.hpp>
#include <lorafgc/lora/registry.hpp>

#include <map>
#include <string>

namespace {

using namespace lorafgc;
using namespace lorafgc::lora;

// Every approximate variant (auto, which runs one of them, aside), then each exact (non-oracle) algorithm in its
// default configuration as the baseline.
std::string algorithm_specs = bench::join_specs([] {
  auto specs = registered_specs([](const Registration& r) { return !r.exact && !r.selector; });
  for (auto& s : registered_specs([](const Registration& r) { return r.exact && !r.oracle; }, true))
    specs.push_back(s);
  return specs;
}());
long long max_exact_length = 1 << 14, max_error_length = 1 << 14, max_length = 1 << 20, rank = 4;

Problem<float> instance(long long L, long long d, double T) {
  GeneratorConfig c;
  c.length = L;
  c.width = d;
  c.rank = rank;
  c.score_bound = T;
  c.seed = 17;
  return generate<float>(c);
}

// The exact algorithm errors are measured against: the registry's first exact,
// non-oracle algorithm in its default configuration (the oracle's O(L^2)
// memory does not fit the larger L).
std::string baseline_spec() {
  return registered_specs([](const Registration& r) { return r.exact && !r.oracle; }, true).front();
}

void BM_poly(benchmark::State& state, std::string spec, long long d, double T) {
  const long long L = state.range(0);
  const Problem<float> problem = instance(L, d, T);
  const auto algorithm = make_algorithm(spec);
  algorithm->prepare(shape_of(problem), sizeof(float));  // one-time setup (auto's calibrations), not timed
  Gradients<float> g;
  bench::reset_peak_memory();
  // One untimed call first, so that a benchmark of one iteration (L = 2^20)
  // times the algorithm, not the first touch of its buffers (docs/heap.md).
  // Its error is the loop's: a refusal is reported there.
  try {
    algorithm->compute(problem);
  } catch (const std::exception&) {
  }
  for (auto _ : state) {
    try {
      g = algorithm->compute(problem);
    } catch (const std::exception& e) {  // the resource guard, an unreachable eps, a random map's D <= 0
      state.SkipWithError(e.what());
      return;
    }
    benchmark::DoNotOptimize(g);
  }
  bench::record_peak_memory(state);
  for (const char* key : {"degree", "rank", "T", "T_cauchy_schwarz"})
    if (g.info.count(key)) state.counters[key] = g.info.at(key);
  // The flops the run reports (its degree follows its certified range), else the cost model's.
  const double flops = g.info.count("flops") ? g.info.at("flops") : algorithm->flops(shape_of(problem));
  state.counters["GFLOPs_performed"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (L <= max_error_length && !registration(algorithm->name()).exact) {
    const auto truth = make_algorithm(baseline_spec())->compute(problem);
    const ErrorMetrics e = compare_gradients(g, truth);
    state.counters["err_max_rel"] = e.max_rel;
    state.counters["err_fro_rel"] = e.frobenius_rel;
    if (g.info.count("error_bound")) state.counters["err_bound_ratio"] = e.max_abs / g.info.at("error_bound");
  }
}

void register_all() {
  for (const std::string& spec : bench::split_specs(algorithm_specs)) {
    // Made once here: a bad spec fails before anything runs.
    const bool exact = registration(make_algorithm(spec)->name()).exact;
    for (long long d : {4LL, 8LL, 16LL})
      for (double T : {0.5, 1.0, 2.0}) {
        if (exact && T != 1.0) continue;  // exact's time does not depend on T
        const std::string name = spec + "/d:" + std::to_string(d) + "/T:" + std::to_string(T).substr(0, 3);
        auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_poly, spec, d, T);
        b->UseRealTime()->Unit(benchmark::kMillisecond)->ArgName("L");
        for (long long L = 1 << 10; L <= (exact ? std::min(max_exact_length, max_length) : max_length); L *= 2)
          b->Arg(L);
      }
  }
}

}  // namespace

int main(int argc, char** argv) {
  using lorafgc::bench::take_flag;
  return lorafgc::bench::benchmark_main(
      "bench_poly", argc, argv,
      [](const char* arg) {
        return take_flag(arg, "--algorithms", algorithm_specs) || take_flag(arg, "--max_exact_L", max_exact_length) ||
               take_flag(arg, "--max_error_L", max_error_length) || take_flag(arg, "--max_L", max_length) ||
               take_flag(arg, "--r", rank);
      },
      [] {
        benchmark::AddCustomContext("kernel_target", kernel_target());
        lorafgc::bench::register_square_gemm();
        register_all();
      });
}
