#pragma once
// Shared by every benchmark binary: the context (BLAS build, threads, CPU type
// override) recorded in each JSON output, and a peak-memory counter.
#include <benchmark/benchmark.h>

namespace lorafgc::bench {

void add_context();
// Clears the process's resident high-water mark; call before the timed loop.
void reset_peak_memory();
// Sets "peak_MiB" from the high-water mark since the last reset.
void record_peak_memory(benchmark::State& state);

}  // namespace lorafgc::bench
