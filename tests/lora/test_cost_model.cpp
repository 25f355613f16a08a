// The cost model: the counts each algorithm declares, the calibration, and the
// predicted time's arithmetic. The accuracy of the prediction is measured by the
// report (predicted against measured boundary), not asserted here.
#include "lora_support.hpp"

#include <lorafgc/core/system_info.hpp>
#include <lorafgc/lora/cost_model.hpp>

#include <catch2/catch.hpp>
#include <cblas.h>
#include <omp.h>

#include <cmath>

using namespace lorafgc;
using namespace lorafgc::lora;

namespace {

ProblemShape shape(long long L, long long d, long long r, bool full) {
  ProblemShape s;
  s.length = L;
  s.width = d;
  s.rank = r;
  s.adapted = {true, full, true};
  return s;
}

}  // namespace

TEST_CASE("exact declares one exp per score pair, two where the backward recomputes", "[cost]") {
  const ProblemShape s = shape(4096, 8, 4, false);
  const double pairs = 4096.0 * 4096.0;
  CHECK(make_algorithm("exact:schedule=fused")->cost(s, 4).exps == pairs);
  CHECK(make_algorithm("exact:schedule=panel")->cost(s, 4).exps == pairs);
  CHECK(make_algorithm("exact:schedule=stream")->cost(s, 4).exps == 2 * pairs);
  CHECK(make_algorithm("exact:schedule=fused,recompute=true")->cost(s, 4).exps == 2 * pairs);
  // The kept exponentials do not fit a 1 MiB budget at L = 4096 in float64: recomputed.
  CHECK(make_algorithm("exact:schedule=fused,panel_mb=1")->cost(s, 8).exps == 2 * pairs);
  CHECK(make_algorithm("exact-reference")->cost(s, 4).exps == pairs);
}

TEST_CASE("exact's bytes: a panel streams each pair 14 times, kept exponentials twice, tiles stay in cache",
          "[cost]") {
  const ProblemShape s = shape(4096, 8, 4, false);
  const double pairs = 4096.0 * 4096.0;
  const Cost panel = make_algorithm("exact:schedule=panel")->cost(s, 4);
  const Cost fused = make_algorithm("exact:schedule=fused")->cost(s, 4);
  const Cost stream = make_algorithm("exact:schedule=stream")->cost(s, 4);
  CHECK(panel.bytes >= 14 * 4 * pairs);
  CHECK(fused.bytes >= 2 * 4 * pairs);
  CHECK(fused.bytes < 3 * 4 * pairs);
  CHECK(stream.bytes < 4 * pairs);  // the key side once per block of 64 rows
  CHECK(make_algorithm("exact:schedule=fused")->cost(s, 8).bytes == Approx(2 * fused.bytes));
  for (const Cost& c : {panel, fused, stream}) CHECK(c.flop_kind == FlopKind::register_tiled);
}

TEST_CASE("poly's declared flops are those its run reports, at the run's degree", "[cost]") {
  auto g = test::config(300, 4, 2, Adaptation::Full);
  g.score_bound = 1.5;
  const auto p = generate<double>(g);
  const auto poly = make_algorithm("poly-cheb");
  const Gradients<double> out = poly->compute(p);
  ProblemShape s = shape_of(p);
  s.score_bound = out.info.at("T_used");
  const Cost c = poly->cost(s, 8);
  CHECK(c.flops == Approx(out.info.at("flops")));
  CHECK(c.exps == 0);
  CHECK(c.bytes > 0);
  CHECK(c.flop_kind == FlopKind::thin_gemm);
  // A fixed degree gives the same counts without a score bound.
  const auto fixed = make_algorithm("poly-cheb:degree=" + std::to_string(static_cast<int>(out.info.at("degree"))));
  CHECK(fixed->cost(shape_of(p, false), 8).flops == Approx(c.flops));
  // Without either the counts are unknown, not made up.
  CHECK(std::isnan(poly->cost(shape_of(p, false), 8).flops));
}

TEST_CASE("the prediction is a roofline: compute (flops and exps add) or memory, whichever is longer", "[cost]") {
  MachineRates r;
  r.gemm_flops_per_s = 100;
  r.thin_gemm_flops_per_s = 50;
  r.exp_per_s = 10;
  r.bytes_per_s = 1000;
  CHECK(predicted_seconds({200, 30, 1000, FlopKind::register_tiled}, r) == Approx(2 + 3));
  CHECK(predicted_seconds({200, 30, 1000, FlopKind::thin_gemm}, r) == Approx(4 + 3));
  CHECK(predicted_seconds({200, 30, 9000, FlopKind::register_tiled}, r) == Approx(9));
}

TEST_CASE("calibration measures positive, finite rates and names bad arguments", "[cost][slow]") {
  for (int bytes : {4, 8}) {
    const MachineRates r = calibrate_machine(bytes, 1);
    CHECK(r.scalar_bytes == bytes);
    CHECK(r.threads == 1);
    for (double v : {r.gemm_flops_per_s, r.thin_gemm_flops_per_s, r.exp_per_s, r.bytes_per_s}) {
      CHECK(std::isfinite(v));
      CHECK(v > 1e6);
    }
    // A modern core does more than 1 and less than 1e4 flops per ns.
    CHECK(r.gemm_flops_per_s < 1e13);
  }
  CHECK_THROWS_WITH(calibrate_machine(2), Catch::Contains("scalar_bytes"));
  CHECK_THROWS_WITH(calibrate_machine(4, -1), Catch::Contains("threads"));
}

// OpenBLAS's OpenMP build sets the caller's OpenMP default whenever its own
// thread count is set: restoring the BLAS count last once left every later
// parallel region of the process on one thread (seen under clang's libomp,
// where OpenBLAS reports one thread).
TEST_CASE("calibrating the machine leaves the caller's OpenMP and BLAS thread counts as they were", "[cost]") {
  const int omp_before = omp_threads(), blas_before = blas_threads();
  openblas_set_num_threads(1);
  omp_set_num_threads(2);
  calibrate_machine(4, 1);
  const int omp_after = omp_threads(), blas_after = blas_threads();
  openblas_set_num_threads(blas_before);
  omp_set_num_threads(omp_before);
  CHECK(omp_after == 2);
  CHECK(blas_after == 1);
}

TEST_CASE("the calibration fit recovers known constants and keeps overheads non-negative", "[cost]") {
  // seconds = limit / 0.5 + 1e-4 + 2e-7 rows, at three shapes like calibrate_algorithm's.
  auto sample = [](double limit, double rows) { return CalibrationSample{limit, rows, limit / 0.5 + 1e-4 + 2e-7 * rows}; };
  const AlgorithmCalibration c = fit_calibration({sample(1e-5, 512), sample(2e-4, 8192), sample(3e-2, 8192)});
  CHECK(c.efficiency == Approx(0.5).epsilon(1e-9));
  CHECK(c.seconds_per_call == Approx(1e-4).epsilon(1e-9));
  CHECK(c.seconds_per_row == Approx(2e-7).epsilon(1e-9));
  Cost cost;
  cost.flops = 1e9;
  cost.rows = 1000;
  MachineRates r;
  r.gemm_flops_per_s = 1e10;
  r.thin_gemm_flops_per_s = r.exp_per_s = r.bytes_per_s = 1;
  CHECK(predicted_seconds(cost, r, c) == Approx(0.1 / 0.5 + 1e-4 + 2e-7 * 1000));
  // Times that fall with more rows would need a negative per-row cost: it is dropped.
  const AlgorithmCalibration d =
      fit_calibration({{1e-5, 512, 1e-3}, {2e-4, 8192, 5e-4}, {3e-2, 8192, 6e-2}});
  CHECK(d.seconds_per_row == 0);
  CHECK(d.seconds_per_call >= 0);
  CHECK(d.efficiency > 0);
  CHECK_THROWS_WITH(fit_calibration({}), Catch::Contains("samples"));
}

TEST_CASE("calibrating an algorithm gives a positive efficiency and non-negative overheads", "[cost][slow]") {
  const MachineRates rates = calibrate_machine(4, 1);
  ProblemShape s;
  s.width = 4;
  s.rank = 2;
  for (const char* spec : {"exact", "poly-cheb"}) {
    const AlgorithmCalibration c = calibrate_algorithm(spec, s, 4, rates);
    CHECK(std::isfinite(c.efficiency));
    CHECK(c.efficiency > 0);
    CHECK(c.seconds_per_call >= 0);
    CHECK(c.seconds_per_row >= 0);
  }
  CHECK_THROWS_WITH(calibrate_algorithm("exact:schedule=sideways", s, 4, rates), Catch::Contains("schedule"));
}
