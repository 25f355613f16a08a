// Cost of one in-context GD step (one (2N+4)-layer block of the explicit ICGD
// transformer, issue 6) against one direct projected GD step on the same
// N-layer network and data, as N, K and n grow. d = 20 (the paper's), d_out = 1,
// sigmoid, 32 ReLU units per fitted function. Counters: layers, heads and
// token width of the block, the FLOPs the sparse layers execute ("flops") and
// those of the same layers with dense D x D head matrices ("dense_flops").
//
//   bench_icl [--benchmark_filter=...] [--benchmark_out=bench_icl.json]
#include "benchmark_context.hpp"

#include <lorafgc/icl/icgd_transformer.hpp>
#include <lorafgc/icl/projected_gd.hpp>
#include <lorafgc/core/random.hpp>

using namespace lorafgc::icl;

namespace {

constexpr int kInputDim = 20, kReluUnits = 32;

IcgdConfig config(int N, int K, int n) {
  IcgdConfig c;
  c.shape = {N, K, kInputDim, 1};
  c.activation = Activation::sigmoid;
  c.examples = n;
  c.eta = 0.5;
  c.radius = 0.3;
  c.input_bound = 8.0;
  c.label_bound = 1.0;
  c.steps = 1;
  c.fit.units = kReluUnits;
  return c;
}

struct Data {
  Eigen::MatrixXd X, Y;
  Eigen::VectorXd x_query, w0;
};

Data data(const IcgdConfig& c) {
  // Examples as rows (drawn as columns, so the data are those of earlier runs).
  return {lorafgc::uniform_matrix(kInputDim, c.examples, c.input_bound, 1).transpose(),
          lorafgc::uniform_matrix(1, c.examples, c.label_bound, 2).transpose(),
          lorafgc::uniform_matrix(kInputDim, 1, c.input_bound, 3),
          lorafgc::uniform_matrix(c.shape.parameter_count(), 1, c.radius, 4)};
}

void shape_counters(benchmark::State& state, const IcgdConfig& c) {
  state.counters["N"] = c.shape.layers;
  state.counters["K"] = c.shape.width;
  state.counters["n"] = c.examples;
  state.counters["parameters"] = double(c.shape.parameter_count());
}

void icgd_step(benchmark::State& state) {
  const IcgdConfig c = config(int(state.range(0)), int(state.range(1)), int(state.range(2)));
  const IcgdTransformer t(c);
  const Data x = data(c);
  const Eigen::MatrixXd H0 = t.prompt(x.X, x.Y, x.x_query, x.w0);
  for (auto _ : state) {
    Eigen::MatrixXd H = H0;
    for (int l = 0; l < t.block_layer_count(); ++l) H = apply_layer(*t.layers()[l], H);
    benchmark::DoNotOptimize(H.data());
  }
  shape_counters(state, c);
  state.counters["layers"] = t.block_layer_count();
  state.counters["heads"] = double(t.block_heads());
  state.counters["max_heads_per_layer"] = double(t.max_heads_per_layer());
  state.counters["width"] = double(t.layout().dim);
  state.counters["flops"] = t.block_flops();
  state.counters["dense_flops"] = t.block_dense_flops();
  state.counters["GFLOPs"] = benchmark::Counter(t.block_flops() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void direct_gd_step(benchmark::State& state) {
  const IcgdConfig c = config(int(state.range(0)), int(state.range(1)), int(state.range(2)));
  const Data x = data(c);
  for (auto _ : state) {
    auto path = projected_gd(c.shape, c.activation, x.w0, x.X, x.Y, c.eta, c.radius, 1);
    benchmark::DoNotOptimize(path.back().data());
  }
  shape_counters(state, c);
  // Forward V_j P, backward V^T S and gradient S P^T: 3 products of 2 n units fan_in.
  const double flops = 6.0 * c.examples * double(c.shape.parameter_count());
  state.counters["flops"] = flops;
  state.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void arguments(benchmark::internal::Benchmark* b) {
  b->ArgNames({"N", "K", "n"});
  for (int N : {2, 3, 4, 6}) b->Args({N, 8, 64});
  for (int K : {4, 16, 32}) b->Args({3, K, 64});
  for (int n : {16, 256}) b->Args({3, 8, n});
  b->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(icgd_step)->Apply(arguments);
BENCHMARK(direct_gd_step)->Apply(arguments);

int main(int argc, char** argv) { return lorafgc::bench::benchmark_main("bench_icl", argc, argv, nullptr, nullptr); }
