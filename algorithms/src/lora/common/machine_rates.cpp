// calibrate_machine and predicted_seconds (cost_model.hpp). Each rate is the
// best of several timed repetitions after a warm-up, all threads busy: BLAS
// threads inside one square GEMM; one OpenMP thread per private buffer for the
// thin products, exp and copies (as the algorithms run them).
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/system_info.hpp>
#include <lorafgc/lora/cost_model.hpp>

#include "lora/common/blas_gemm.hpp"
#include "lora/common/exp_kernel.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <vector>

namespace lorafgc::lora {

namespace {

using Clock = std::chrono::steady_clock;

template <class F>
double best_seconds(int repetitions, F&& f) {
  f();  // warm-up: page faults, BLAS buffers, frequency
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i < repetitions; ++i) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

template <class T>
double square_gemm_rate() {
  const int n = sizeof(T) == 4 ? 2048 : 1536;
  Matrix<T> A = Matrix<T>::Random(n, n), B = Matrix<T>::Random(n, n), C(n, n);
  const double s = best_seconds(3, [&] { detail::gemm_nt<T>(T(1), A, B, T(0), C); });
  return 2.0 * n * n * static_cast<double>(n) / s;
}

// The shapes of poly's sweeps: a block of features times thin sums, and the
// features' transpose times a thin block; one single-threaded BLAS call per thread.
template <class T>
double thin_gemm_rate(int threads) {
  const int b = 512, k = 1024, n = 64;
  double seconds = 0;
#pragma omp parallel num_threads(threads) reduction(max : seconds)
  {
    Matrix<T> F = Matrix<T>::Random(b, k), S = Matrix<T>::Random(k, n), G = Matrix<T>::Random(b, n);
    Matrix<T> out_b(b, n), out_k(k, n);
    seconds = best_seconds(10, [&] {
      for (int rep = 0; rep < 4; ++rep) {
        detail::gemm_call(CblasNoTrans, CblasNoTrans, b, n, k, T(1), F.data(), b, S.data(), k, T(0), out_b.data(), b);
        detail::gemm_call(CblasTrans, CblasNoTrans, k, n, b, T(1), F.data(), b, G.data(), b, T(1), out_k.data(), k);
      }
    });
  }
  return threads * 4.0 * 2.0 * (2.0 * b * k * static_cast<double>(n)) / seconds;
}

template <class T>
double exp_rate(int threads) {
  const std::size_t n = 4096;  // two arrays of 16-32 KiB: in L1, so exp and not memory is timed
  const int sweeps = 256;
  double seconds = 0;
#pragma omp parallel num_threads(threads) reduction(max : seconds)
  {
    std::vector<T> x(n), y(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<T>(-8.0 * i / n);  // scores after max-subtraction
    seconds = best_seconds(20, [&] {
      for (int s = 0; s < sweeps; ++s) detail::vector_exp(x.data(), y.data(), n);
    });
  }
  return threads * static_cast<double>(sweeps) * n / seconds;
}

double copy_rate(int threads) {
  const std::size_t bytes = std::size_t(8) << 20;
  double seconds = 0;
#pragma omp parallel num_threads(threads) reduction(max : seconds)
  {
    std::vector<char> a(bytes, 1), b(bytes, 0);
    seconds = best_seconds(40, [&] {
      std::memcpy(b.data(), a.data(), bytes);
      std::memcpy(a.data(), b.data(), bytes);
    });
  }
  return threads * 4.0 * static_cast<double>(bytes) / seconds;
}

template <class T>
MachineRates calibrate(int threads) {
  MachineRates r;
  const auto t0 = Clock::now();
  r.scalar_bytes = sizeof(T);
  r.threads = threads;
  const int omp_before = omp_threads(), blas_before = blas_threads();
  set_threads(threads);
  r.gemm_flops_per_s = square_gemm_rate<T>();
  // Inside a parallel region the OpenMP OpenBLAS runs each call on its thread.
  r.thin_gemm_flops_per_s = thin_gemm_rate<T>(threads);
  r.exp_per_s = exp_rate<T>(threads);
  r.bytes_per_s = copy_rate(threads);
  // BLAS first: OpenBLAS's OpenMP build sets the caller's OpenMP default too, so
  // restoring it last left that default at the BLAS count (1 under clang's libomp,
  // where OpenBLAS reports one thread), and every later parallel region ran on one.
  openblas_set_num_threads(blas_before);
  omp_set_num_threads(omp_before);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace

MachineRates calibrate_machine(int scalar_bytes, int threads) {
  if (scalar_bytes != 4 && scalar_bytes != 8) throw InvalidArgument("scalar_bytes", "expected 4 or 8");
  if (threads < 0) throw InvalidArgument("threads", "expected >= 0");
  const int t = threads > 0 ? threads : omp_threads();
  return scalar_bytes == 4 ? calibrate<float>(t) : calibrate<double>(t);
}

double predicted_seconds(const Cost& c, const MachineRates& r) {
  const double flop_rate = c.flop_kind == FlopKind::thin_gemm ? r.thin_gemm_flops_per_s : r.gemm_flops_per_s;
  const double flops = c.flops + (kGatheredFlopWeight - 1) * c.gathered_flops;
  return std::max(flops / flop_rate + c.exps / r.exp_per_s, c.bytes / r.bytes_per_s);
}

const char* to_string(FlopKind kind) { return kind == FlopKind::thin_gemm ? "thin_gemm" : "register_tiled"; }

}  // namespace lorafgc::lora
