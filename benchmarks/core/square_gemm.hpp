#pragma once
// The machine's attainable BLAS rate, measured in the same run as the
// algorithms so that "fraction of the SGEMM rate" is a ratio of one run: a
// square, compute-bound n x n x n GEMM straight to OpenBLAS, registered as
// gemm_square/float32 and gemm_square/float64 (counter GFLOPs_performed).
namespace lorafgc::bench {

void register_square_gemm(long long n = 2048);

}  // namespace lorafgc::bench
