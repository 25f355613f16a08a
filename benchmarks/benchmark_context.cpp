#include "benchmark_context.hpp"

#include <lorafgc/system_info.hpp>

#include <string>

namespace lorafgc::bench {

void add_context() {
  benchmark::AddCustomContext("blas_config", blas_config());
  benchmark::AddCustomContext("blas_threads", std::to_string(blas_threads()));
  benchmark::AddCustomContext("omp_threads", std::to_string(omp_threads()));
  benchmark::AddCustomContext("OPENBLAS_CORETYPE", openblas_coretype());
  benchmark::AddCustomContext("lorafgc_build", build_description());
}

void reset_peak_memory() { reset_peak_rss(); }

void record_peak_memory(benchmark::State& state) {
  state.counters["peak_MiB"] = static_cast<double>(peak_rss_bytes()) / (1024.0 * 1024.0);
}

}  // namespace lorafgc::bench
