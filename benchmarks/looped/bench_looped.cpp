// The looped linear transformer's forward pass in its two forms (issue 5):
// quadratic, P Z M (Z^T Q Z) with the n x (n+1) attention matrix, O(T n^2 d);
// linear, (P Z M Z^T)(Q Z) with a (d+1) x (d+1) product first, O(T n d^2).
// Both run the same loops with general dense (d+1) x (d+1) weights on one prompt.
//
//   bench_looped [--benchmark_filter=...] [--benchmark_out=bench_looped.json]
#include "benchmark_context.hpp"

#include <lorafgc/looped/looped_transformer.hpp>
#include <lorafgc/looped/regression_task.hpp>
#include <lorafgc/core/random.hpp>

using namespace lorafgc::looped;

namespace {

void looped_forward_pass(benchmark::State& state, AttentionForm form) {
  const int d = int(state.range(0)), n = int(state.range(1)), loops = int(state.range(2));
  RegressionTaskSampler sampler(d, n, 1);
  const Eigen::MatrixXd Z = prompt_matrix(sampler.sample());
  // Small weights keep T loops bounded; the cost does not depend on values.
  const Eigen::MatrixXd P = lorafgc::gaussian_matrix(d + 1, d + 1, 2, 0.1 / std::sqrt(d)), Q = lorafgc::gaussian_matrix(d + 1, d + 1, 3, 0.1 / std::sqrt(d));
  for (auto _ : state) benchmark::DoNotOptimize(looped_forward(Z, P, Q, loops, form).data());
  const double rows = d + 1, cols = n + 1;
  // Multiply-adds x 2 per loop: linear Z M Z^T, P C, Q Z, (P C)(Q Z);
  // quadratic Q Z, Z^T (Q Z), P Z, (P Z) S.
  const double flops = form == AttentionForm::Linear
                           ? 2 * loops * (rows * rows * n + rows * rows * rows + 2 * rows * rows * cols)
                           : 2 * loops * (rows * rows * cols + n * rows * cols + rows * rows * n + rows * n * cols);
  state.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void arguments(benchmark::internal::Benchmark* b) {
  b->ArgNames({"d", "n", "T"});
  for (int d : {10, 32})
    for (int n : {16, 64, 256, 1024, 4096})
      for (int T : {1, 4, 16}) b->Args({d, n, T});
  b->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK_CAPTURE(looped_forward_pass, quadratic, AttentionForm::Quadratic)->Apply(arguments);
BENCHMARK_CAPTURE(looped_forward_pass, linear, AttentionForm::Linear)->Apply(arguments);

int main(int argc, char** argv) { return lorafgc::bench::benchmark_main("bench_looped", argc, argv, nullptr, nullptr); }
