#include "square_gemm.hpp"

#include <lorafgc/core/types.hpp>

#include <benchmark/benchmark.h>
#include <cblas.h>

namespace lorafgc::bench {

namespace {

void gemm(const Matrix<float>& a, const Matrix<float>& b, Matrix<float>& c) {
  cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, a.rows(), b.cols(), a.cols(), 1.0f, a.data(), a.rows(),
              b.data(), b.rows(), 0.0f, c.data(), c.rows());
}
void gemm(const Matrix<double>& a, const Matrix<double>& b, Matrix<double>& c) {
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, a.rows(), b.cols(), a.cols(), 1.0, a.data(), a.rows(),
              b.data(), b.rows(), 0.0, c.data(), c.rows());
}

template <class T>
void BM_gemm_square(benchmark::State& state) {
  const long long n = state.range(0);
  const Matrix<T> a = Matrix<T>::Random(n, n), b = Matrix<T>::Random(n, n);
  Matrix<T> c(n, n);
  for (auto _ : state) {
    gemm(a, b, c);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPs_performed"] =
      benchmark::Counter(2.0 * n * n * n * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

void register_square_gemm(long long n) {
  benchmark::RegisterBenchmark("gemm_square/float32", BM_gemm_square<float>)
      ->Arg(n)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("gemm_square/float64", BM_gemm_square<double>)
      ->Arg(n)->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace lorafgc::bench
