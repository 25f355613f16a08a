#pragma once
// The cost model: what an algorithm declares it spends on a shape (Cost, from
// Algorithm::cost), what this machine delivers per second of each resource
// (MachineRates, measured by calibrate_machine), and the predicted time, the
// sum of the three resource times (no overlap assumed). docs/cost-model.md
// states the counts per algorithm and how well the prediction holds.
#include <lorafgc/lora/problem.hpp>

#include <string>
#include <vector>

namespace lorafgc::lora {

// Which calibrated rate an algorithm's flops run at.
enum class FlopKind {
  register_tiled,  // products kept in registers over long inner loops (square GEMM, exact's kernels)
  thin_gemm,       // BLAS products with one thin side (the polynomial method's sweeps)
};

struct Cost {
  double flops = 0;  // floating-point operations performed (multiply-add = 2)
  double exps = 0;   // exponentials evaluated
  double bytes = 0;  // bytes streamed beyond the per-core (L2) caches: panels, feature blocks
  FlopKind flop_kind = FlopKind::register_tiled;
  double rows = 0;   // sequence rows (L x batch): what per-row overheads scale with
  // The part of `flops` in gathered thin products (poly-hybrid's exact pairs:
  // products of m scattered rows, gathers, a vector exp pass), which run at
  // 1 / kGatheredFlopWeight of the rate of their kind.
  double gathered_flops = 0;
};

// Measured: on a gaussian instance (L = 16384, d = 8, T_cs = 1, Xeon 6/207) 128
// outliers a side cost 0.02 s for 0.9 GFLOP counted, about 40% of the thin
// sweeps' rate.
inline constexpr double kGatheredFlopWeight = 2.5;

// This machine's rates for one scalar type and thread count, all threads busy.
struct MachineRates {
  int scalar_bytes = 4;
  int threads = 1;
  double gemm_flops_per_s = 0;       // square n x n x n GEMM (n = 2048 float, 1536 double), OpenBLAS
  double thin_gemm_flops_per_s = 0;  // per thread (512 x 1024)(1024 x 64) and (1024 x 512)(512 x 64), OpenBLAS
  double exp_per_s = 0;              // the dispatched vector exp (exact's kernel's) on cache-resident arrays
  double bytes_per_s = 0;            // per thread, copying 8 MiB into another 8 MiB (beyond L2): read + write
  double seconds = 0;                // how long the calibration took
};

// Times each rate (best of several repetitions); about 0.5 s. threads = 0: the
// current OpenMP default.
MachineRates calibrate_machine(int scalar_bytes, int threads = 0);

// max((flops + (kGatheredFlopWeight - 1) gathered_flops) / (rate of its kind)
// + exps / exp rate, bytes / bandwidth).
double predicted_seconds(const Cost& cost, const MachineRates& rates);

// How one implementation runs against that limit on this machine, measured by
// timing it (calibrate_algorithm): time = limit / efficiency + seconds_per_call
// + seconds_per_row x rows. The limit has no overheads; an implementation has a
// fixed cost per call (threads, plans, allocation) and a cost per row (thin
// factors, scaling, the score-range search, BLAS calls per block) that the
// counts leave out, and it reaches a fraction of the calibrated rates.
struct AlgorithmCalibration {
  double efficiency = 1;
  double seconds_per_call = 0;
  double seconds_per_row = 0;
  double seconds = 0;  // how long the calibration took
};

// Times `spec` on three shapes of the given width, rank and mode (best of three
// each): little work on few rows, little work on many rows, much work on many
// rows (exact: L = 256, 1024, 4096; the polynomial method: degree 1 at L = 512
// and 8192, and the degree whose rank first reaches 500 at L = 8192), and solves
// time = limit / efficiency + call + row x L for the three constants (a
// constant that comes out negative is set to 0 and the others refitted).
AlgorithmCalibration calibrate_algorithm(const std::string& spec, const ProblemShape& shape, int scalar_bytes,
                                         const MachineRates& rates);

double predicted_seconds(const Cost& cost, const MachineRates& rates, const AlgorithmCalibration& calibration);

// One timing of calibrate_algorithm: the limit predicted for the shape, its rows,
// the measured seconds.
struct CalibrationSample {
  double limit = 0, rows = 0, seconds = 0;
};
// Relative least squares of seconds = limit / efficiency + call + row x rows,
// with call, row >= 0 (a negative one is dropped and the rest refitted).
AlgorithmCalibration fit_calibration(const std::vector<CalibrationSample>& samples);

const char* to_string(FlopKind kind);

}  // namespace lorafgc::lora
