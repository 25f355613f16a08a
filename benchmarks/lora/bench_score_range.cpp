// The certified score range (lorafgc/lora/score_range.hpp) against the
// Cauchy-Schwarz bound, and what it costs to compute. float32, partial, r = 4.
//
// Instances:
//  - gaussian: X entries N(0, 0.25/d), W*_mu entries N(0, 1/d), LoRA factors
//    0.3 N(0, 1), alpha = 2r, beta = 1 (a typical unnormalised layer);
//  - shared_key: the same with every token shifted so that the keys are
//    b + g_j with ||b|| = 3 max||g_j|| (add_common_key_component).
//  - gaussian_full: gaussian with W_k adapted too;
//  - llm, adversarial: the generator's instance families at their default
//    parameters (docs/instance-families.md), gamma = 1.
// Counters: T_cauchy_schwarz, T_centred, T_used, ratio = T_used / T_cauchy_schwarz;
// for the default options (centred, m = 64) also the truth by brute force over
// all L^2 pairs: true_max_centred = max |S'_ij|, true_row_halfwidth = the
// smallest T any per-row shift allows, true_ratio = that / T_cauchy_schwarz.
// Options: m (range_rows) in {0, 8, 64, 256}, centring on and off; d = 8 over
// --seeds instances (default 5), d = 4 and 16 one each.
//
// BM_poly_range times poly-cheb (eps = 1e-3) on the Cauchy-Schwarz range and on
// the certified range, same instance, reporting degree and rank of each.
// Flags: --max_L (default 65536), --poly_L (default 16384), --seeds.
#include "benchmark_context.hpp"

#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/random.hpp>
#include <lorafgc/lora/generator.hpp>
#include <lorafgc/lora/kernels.hpp>
#include <lorafgc/lora/registry.hpp>
#include <lorafgc/lora/score_range.hpp>

#include <map>
#include <string>
#include <tuple>

namespace {

using namespace lorafgc;
using namespace lorafgc::lora;

long long max_length = 1 << 16, poly_length = 1 << 14, seeds = 5;
constexpr long long rank = 4;

enum class Family { gaussian, gaussian_full, shared_key, llm, adversarial };
const char* name_of(Family f) {
  switch (f) {
    case Family::gaussian: return "gaussian";
    case Family::gaussian_full: return "gaussian_full";
    case Family::shared_key: return "shared_key";
    case Family::llm: return "llm";
    case Family::adversarial: return "adversarial";
  }
  return "?";
}

Problem<float> instance(long long L, long long d, Family family, std::uint64_t seed) {
  if (family == Family::llm || family == Family::adversarial) {
    GeneratorConfig c;
    c.length = L;
    c.width = d;
    c.rank = rank;
    c.seed = seed;
    c.family = family == Family::llm ? InstanceFamily::Llm : InstanceFamily::Adversarial;
    return generate<float>(c);
  }
  Problem<float> p;
  seed *= 1000;
  p.X.push_back(gaussian_matrix(L, d, seed++, std::sqrt(0.25 / d)).cast<float>());
  p.Y.push_back(gaussian_matrix(L, d, seed++, 1.0).cast<float>());
  for (Projection mu : kProjections) p.W[index(mu)] = gaussian_matrix(d, d, seed++, std::sqrt(1.0 / d)).cast<float>();
  const bool full = family == Family::gaussian_full;
  for (Projection mu : kProjections)
    if (full || mu != Projection::K)
      p.adapter[index(mu)] = LoraAdapter<float>{gaussian_matrix(d, rank, seed++, 0.3).cast<float>(),
                                              gaussian_matrix(rank, d, seed++, 0.3).cast<float>()};
  p.alpha = 2.0 * rank;
  if (family == Family::shared_key) add_common_key_component(p, 3.0);
  return p;
}

// What any certified range of this kind can reach, by brute force over all L^2
// pairs (double): the smallest half-width max_i (max_j S_ij - min_j S_ij) / 2
// that a free shift per row allows (any centre c is one such shift).
double true_row_halfwidth(const Problem<float>& p) {
  const Eigen::MatrixXd Q = (p.X[0] * p.effective_weight(Projection::Q)).cast<double>(),
                        K = (p.X[0] * p.effective_weight(Projection::K)).cast<double>();
  double out = 0;
  constexpr Eigen::Index chunk = 256;
  for (Eigen::Index i0 = 0; i0 < Q.rows(); i0 += chunk) {
    const Eigen::MatrixXd S = p.beta * Q.middleRows(i0, std::min(chunk, Q.rows() - i0)) * K.transpose();
    out = std::max(out, ((S.rowwise().maxCoeff() - S.rowwise().minCoeff()) / 2).maxCoeff());
  }
  return out;
}

void BM_range(benchmark::State& state, Family family, bool centre, long long m) {
  const long long L = state.range(0), d = state.range(1);
  const Problem<float> p = instance(L, d, family, static_cast<std::uint64_t>(state.range(2)));
  ScoreRange range;
  for (auto _ : state) {
    range = certified_score_range(p, {centre, m});
    benchmark::DoNotOptimize(range);
  }
  state.counters["T_cauchy_schwarz"] = range.T_cauchy_schwarz;
  state.counters["T_centred"] = range.T_centred;
  state.counters["T_used"] = range.T_used;
  state.counters["ratio"] = range.T_used / range.T_cauchy_schwarz;
  if (centre && m == 64) {
    // Google Benchmark calls this function several times; the brute force runs once.
    static std::map<std::tuple<int, long long, long long, long long>, double> cache;
    const auto key = std::make_tuple(static_cast<int>(family), L, d, state.range(2));
    if (!cache.count(key)) cache[key] = true_row_halfwidth(p);
    state.counters["true_row_halfwidth"] = cache[key];
    state.counters["true_ratio"] = cache[key] / range.T_cauchy_schwarz;
    state.counters["excess"] = range.T_used / cache[key];
  }
}

void BM_poly_range(benchmark::State& state, Family family, std::string spec) {
  const Problem<float> p = instance(state.range(0), state.range(1), family, 1);
  const auto algorithm = make_algorithm(spec);
  Gradients<float> g;
  for (auto _ : state) {
    try {
      g = algorithm->compute(p);
    } catch (const InvalidArgument& e) {  // e.g. no degree meets eps on the Cauchy-Schwarz range
      state.SkipWithError(e.what());
      return;
    }
    benchmark::DoNotOptimize(g);
  }
  for (const char* key : {"degree", "rank", "T", "T_cauchy_schwarz"}) state.counters[key] = g.info.at(key);
  state.counters["GFLOPs_performed"] =
      benchmark::Counter(g.info.at("flops") * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void register_all() {
  for (Family family : {Family::gaussian, Family::gaussian_full, Family::shared_key, Family::llm, Family::adversarial}) {
    const std::string name_of_family = name_of(family);
    for (bool centre : {false, true})
      for (long long m : {0LL, 8LL, 64LL, 256LL}) {
        const std::string name =
            "range/" + name_of_family + "/centre:" + std::to_string(centre) + "/m:" + std::to_string(m);
        auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_range, family, centre, m);
        b->UseRealTime()->Unit(benchmark::kMillisecond)->ArgNames({"L", "d", "seed"});
        for (long long d : {4LL, 8LL, 16LL})
          for (long long seed = 1; seed <= (d == 8 ? seeds : 1); ++seed) b->Args({max_length, d, seed});
      }
    for (const std::string spec : {"poly-cheb:centre=false,range_rows=0", "poly-cheb"}) {
      const std::string name = "poly/" + name_of_family + "/" + spec;
      benchmark::RegisterBenchmark(name.c_str(), BM_poly_range, family, spec)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->ArgNames({"L", "d"})
          ->Args({poly_length, 8})
          ->Iterations(1);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  using lorafgc::bench::take_flag;
  return lorafgc::bench::benchmark_main(
      "bench_score_range", argc, argv,
      [](const char* arg) {
        return take_flag(arg, "--max_L", max_length) || take_flag(arg, "--poly_L", poly_length) ||
               take_flag(arg, "--seeds", seeds);
      },
      [] {
        benchmark::AddCustomContext("kernel_target", kernel_target());
        register_all();
      });
}
