// poly-hybrid against poly-cheb where outliers set the score range: llm
// instances (docs/instance-families.md, default parameters) with W_q, W_k scaled
// so that the Cauchy-Schwarz bound is T_cs in {10, 20, 40}; float32, partial,
// d = 8, r = 4, eps = 1e-3 for both (the same certified relative error of the
// exp entries). Counters: degree, rank, T (the polynomial's range: the
// certified range for poly-cheb, the bulk's for poly-hybrid), T_used,
// outlier_queries / outlier_keys, certified and error_bound, GFLOPs_performed
// (the run's plan), and err_max_rel against `exact` on the same instance (one
// exact run per instance, kept). Repetitions interleave (run with
// --benchmark_enable_random_interleaving=true --benchmark_repetitions=3) so the
// ratio of medians is measured in one run: benchmarks/lora/poly_hybrid.py.
// Flags: --L (default 65536).
#include "benchmark_context.hpp"

#include <lorafgc/core/errors.hpp>
#include <lorafgc/lora/error_metrics.hpp>
#include <lorafgc/lora/generator.hpp>
#include <lorafgc/lora/kernels.hpp>
#include <lorafgc/lora/registry.hpp>

#include <map>
#include <memory>
#include <string>

namespace {

using namespace lorafgc;
using namespace lorafgc::lora;

long long length = 1 << 16;

const Problem<float>& instance(long long L, double T_cs) {
  static std::map<std::pair<long long, double>, std::unique_ptr<Problem<float>>> cache;
  auto& p = cache[{L, T_cs}];
  if (!p) {
    GeneratorConfig c;
    c.length = L;
    c.width = 8;
    c.rank = 4;
    c.seed = 1;
    c.family = InstanceFamily::Llm;
    c.score_bound = T_cs;
    p = std::make_unique<Problem<float>>(generate<float>(c));
  }
  return *p;
}

const Gradients<float>& exact_of(long long L, double T_cs) {
  static std::map<std::pair<long long, double>, Gradients<float>> cache;
  auto it = cache.find({L, T_cs});
  if (it == cache.end()) it = cache.emplace(std::make_pair(L, T_cs), make_algorithm("exact")->compute(instance(L, T_cs))).first;
  return it->second;
}

void BM_hybrid(benchmark::State& state, std::string spec, double T_cs) {
  const Problem<float>& p = instance(state.range(0), T_cs);
  const auto algorithm = make_algorithm(spec);
  Gradients<float> g;
  for (auto _ : state) {
    try {
      g = algorithm->compute(p);
    } catch (const InvalidArgument& e) {
      state.SkipWithError(e.what());
      return;
    }
    benchmark::DoNotOptimize(g);
  }
  for (const char* key : {"degree", "rank", "T", "T_used", "outlier_queries", "outlier_keys", "certified"})
    if (g.info.count(key)) state.counters[key] = g.info.at(key);
  state.counters["error_bound"] = g.info.count("error_bound") ? g.info.at("error_bound") : -1;
  state.counters["GFLOPs_performed"] =
      benchmark::Counter(g.info.at("flops") * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["err_max_rel"] = compare_gradients(g, exact_of(state.range(0), T_cs)).max_rel;
}

void register_all() {
  for (double T_cs : {10.0, 20.0, 40.0})
    for (const std::string spec : {"poly-cheb", "poly-hybrid", "poly-hybrid:recentre=true"}) {
      const std::string name = spec + "/llm/T_cs:" + std::to_string(static_cast<int>(T_cs));
      benchmark::RegisterBenchmark(name.c_str(), BM_hybrid, spec, T_cs)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->ArgNames({"L"})
          ->Args({length})
          ->Iterations(1);
    }
}

}  // namespace

int main(int argc, char** argv) {
  using lorafgc::bench::take_flag;
  return lorafgc::bench::benchmark_main(
      "bench_poly_hybrid", argc, argv, [](const char* arg) { return take_flag(arg, "--L", length); },
      [] {
        benchmark::AddCustomContext("kernel_target", kernel_target());
        register_all();
      });
}
