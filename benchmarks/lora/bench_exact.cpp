// Exact LoRA attention gradients: exact-reference vs exact, partial and full,
// float and double, L = 512 ... 16384 at d = 64, r = 8; and in the same run the
// SGEMM/DGEMM rate of an (L x 64)(64 x L) product and of a square 2048 GEMM
// (square_gemm.hpp), so "fraction of GEMM rate" is a ratio measured in one run.
//
// Counters:
//   GFLOPs_performed  flops the implementation performs / time (Algorithm::flops)
//   GFLOPs_nominal    5 (partial) or 6 (full) L x L x d products, 2 L^2 d each
//   peak_MiB          resident high-water mark during the benchmark
//   schedule          the schedule `exact` ran (0 panel, 1 stream, 2 fused)
//
// Flags beyond Google Benchmark's: --algorithms=spec;spec;... (default: the
// variants of every exact algorithm in the registry, today
// exact-reference;exact;exact:schedule=stream), --max_workspace_MiB=N (default
// 2048) skips sizes whose workspace (Algorithm::workspace_bytes) exceeds N MiB,
// which caps the O(L^2)-memory reference; --d=N, --r=N override width and rank.
#include "benchmark_context.hpp"
#include "square_gemm.hpp"

#include <lorafgc/lora/generator.hpp>
#include <lorafgc/lora/kernels.hpp>
#include <lorafgc/lora/registry.hpp>

#include <cblas.h>

#include <string>

namespace {

using namespace lorafgc;
using namespace lorafgc::lora;

long long max_workspace_mib = 2048;
long long width = 64, rank = 8;
std::string algorithm_specs = bench::join_specs(registered_specs([](const Registration& r) { return r.exact; }));

template <class T>
void BM_gradient(benchmark::State& state, std::string spec, Adaptation mode) {
  GeneratorConfig c;
  c.length = state.range(0);
  c.width = width;
  c.rank = rank;
  c.adaptation = mode;
  c.gamma = 1.0;
  const Problem<T> problem = generate<T>(c);
  const auto algorithm = make_algorithm(spec);
  const ProblemShape shape = shape_of(problem);
  bench::reset_peak_memory();
  Gradients<T> g;
  for (auto _ : state) {
    g = algorithm->compute(problem);
    benchmark::DoNotOptimize(g);
  }
  bench::record_peak_memory(state);
  // The schedule `exact` ran (0 panel, 1 stream, 2 fused): auto's choice.
  if (g.info.count("schedule")) state.counters["schedule"] = g.info.at("schedule");
  state.counters["GFLOPs_performed"] =
      benchmark::Counter(algorithm->flops(shape) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOPs_nominal"] =
      benchmark::Counter(nominal_exact_flops(shape) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void gemm(const Matrix<float>& a, const Matrix<float>& b, Matrix<float>& c) {
  cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, a.rows(), b.rows(), a.cols(), 1.0f, a.data(),
              a.rows(), b.data(), b.rows(), 0.0f, c.data(), c.rows());
}
void gemm(const Matrix<double>& a, const Matrix<double>& b, Matrix<double>& c) {
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, a.rows(), b.rows(), a.cols(), 1.0, a.data(),
              a.rows(), b.data(), b.rows(), 0.0, c.data(), c.rows());
}

// The shape of the score product S = Q K^T: (L x d)(d x L), straight to OpenBLAS.
template <class T>
void BM_gemm(benchmark::State& state) {
  const long long L = state.range(0);
  const Matrix<T> a = Matrix<T>::Random(L, width), b = Matrix<T>::Random(L, width);
  Matrix<T> c(L, L);
  bench::reset_peak_memory();
  for (auto _ : state) {
    gemm(a, b, c);
    benchmark::ClobberMemory();
  }
  bench::record_peak_memory(state);
  state.counters["GFLOPs_performed"] = benchmark::Counter(
      2.0 * L * L * width * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

template <class T>
void register_all() {
  const std::string type = dtype_name<T>();
  for (long long L = 512; L <= 16384; L *= 2)
    benchmark::RegisterBenchmark(("gemm_LxdxL/" + type).c_str(), BM_gemm<T>)
        ->Arg(L)->UseRealTime()->Unit(benchmark::kMillisecond);
  for (const std::string& spec : bench::split_specs(algorithm_specs)) {
    const auto algorithm = make_algorithm(spec);
    for (Adaptation mode : {Adaptation::Partial, Adaptation::Full}) {
      const std::string name = spec + "/" + to_string(mode) + "/" + type;
      auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_gradient<T>, spec, mode);
      b->UseRealTime()->Unit(benchmark::kMillisecond)->ArgName("L");
      for (long long L = 512; L <= 16384; L *= 2) {
        ProblemShape shape;
        shape.length = L;
        shape.width = width;
        shape.rank = rank;
        if (algorithm->workspace_bytes(shape, sizeof(T)) <= max_workspace_mib * 1048576.0) b->Arg(L);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  using lorafgc::bench::take_flag;
  return lorafgc::bench::benchmark_main(
      "bench_exact", argc, argv,
      [](const char* arg) {
        return take_flag(arg, "--max_workspace_MiB", max_workspace_mib) || take_flag(arg, "--d", width) ||
               take_flag(arg, "--r", rank) || take_flag(arg, "--algorithms", algorithm_specs);
      },
      [] {
        benchmark::AddCustomContext("kernel_target", kernel_target());
        lorafgc::bench::register_square_gemm();
        register_all<float>();
        register_all<double>();
      });
}
