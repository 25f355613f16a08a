#pragma once
// Shared by every benchmark binary: the context (CPU and vector width, BLAS
// build, threads, CPU type override, build) recorded in each JSON output, and a
// peak-memory counter.
#include <benchmark/benchmark.h>

#include <functional>
#include <string>
#include <vector>

namespace lorafgc::bench {

void add_context();
// Clears the process's resident high-water mark; call before the timed loop.
void reset_peak_memory();
// Sets "peak_MiB" from the high-water mark since the last reset.
void record_peak_memory(benchmark::State& state);

// Our flags beside Google Benchmark's: "--name=value". True (and value set)
// when `arg` is that flag; integers must be >= 1 (InvalidArgument naming the flag).
bool take_flag(const char* arg, const char* name, std::string& value);
bool take_flag(const char* arg, const char* name, long long& value);
// "exact;exact:schedule=stream" -> {"exact", "exact:schedule=stream"}.
std::vector<std::string> split_specs(const std::string& list);
// The inverse: {"exact", "exact:schedule=stream"} -> "exact;exact:schedule=stream".
std::string join_specs(const std::vector<std::string>& specs);

// Runs a benchmark's main; any exception becomes "<tool>: error: <what>" and
// exit status 2 instead of an abort.
int guarded_main(const char* tool, const std::function<int()>& body);

// A benchmark binary's whole main, under guarded_main: `take_own` is offered
// each argument first (true: it was one of ours), the rest go to Google
// Benchmark; then the context, `register_benchmarks` (may be empty), the run.
int benchmark_main(const char* tool, int argc, char** argv, const std::function<bool(const char*)>& take_own,
                   const std::function<void()>& register_benchmarks);

}  // namespace lorafgc::bench
