#pragma once
// The cost model: what an algorithm declares it spends on a shape (Cost, from
// Algorithm::cost), what this machine delivers per second of each resource
// (MachineRates, measured by calibrate_machine), and the predicted time, the
// sum of the three resource times (no overlap assumed). docs/cost-model.md
// states the counts per algorithm and how well the prediction holds.
#include <lorafgc/lora/problem.hpp>

#include <string>

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
};

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

// max(flops / (rate of its kind) + exps / exp rate, bytes / bandwidth).
double predicted_seconds(const Cost& cost, const MachineRates& rates);

const char* to_string(FlopKind kind);

}  // namespace lorafgc::lora
