// Exact LoRA attention gradients: exact-reference vs exact, partial and full,
// float and double, L = 512 ... 16384 at d = 64, r = 8; and in the same run the
// SGEMM/DGEMM rate of an (L x 64)(64 x L) product, so "fraction of GEMM rate" is
// a ratio measured in one run.
//
// Counters:
//   GFLOPs_performed  flops the implementation performs / time (Algorithm::flops)
//   GFLOPs_nominal    5 (partial) or 6 (full) L x L x d products, 2 L^2 d each
//   peak_MiB          resident high-water mark during the benchmark
//
// Flags beyond Google Benchmark's: --max_reference_L=N (default 4096) caps the
// O(L^2)-memory reference; --d, --r override the width and rank.
#include "benchmark_context.hpp"

#include <lorafgc/generator.hpp>
#include <lorafgc/registry.hpp>

#include <cblas.h>

#include <cstring>
#include <string>

namespace {

using namespace lorafgc;

long long max_reference_length = 4096;
long long width = 64, rank = 8;

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
  for (auto _ : state) benchmark::DoNotOptimize(algorithm->compute(problem));
  bench::record_peak_memory(state);
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
  for (const auto& info : registered_algorithms()) {
    if (!info.exact) continue;
    for (Adaptation mode : {Adaptation::Partial, Adaptation::Full}) {
      const std::string name = info.name + "/" + to_string(mode) + "/" + type;
      auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_gradient<T>, info.name, mode);
      b->UseRealTime()->Unit(benchmark::kMillisecond)->ArgName("L");
      const long long cap = info.name == "exact-reference" ? max_reference_length : 16384;
      for (long long L = 512; L <= cap; L *= 2) b->Arg(L);
    }
  }
}

bool take_flag(const char* arg, const char* name, long long& value) {
  const std::size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  value = std::atoll(arg + n + 1);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i)
    if (!take_flag(argv[i], "--max_reference_L", max_reference_length) &&
        !take_flag(argv[i], "--d", width) && !take_flag(argv[i], "--r", rank))
      rest.push_back(argv[i]);
  int rest_count = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_count, rest.data());
  lorafgc::bench::add_context();
  register_all<float>();
  register_all<double>();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
