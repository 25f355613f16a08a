#pragma once
// The description every measurement record carries, written once: the CPU and
// its vector width, memory, the BLAS build and the thread counts, the build.
#include <string>
#include <vector>

namespace lorafgc {

struct MachineDescription {
  std::string cpu;                  // /proc/cpuinfo "model name"
  std::string vector_isa;           // widest the CPU runs: avx512, avx2, sse4.2, ... (runtime)
  unsigned hardware_threads = 0;
  double physical_memory_bytes = 0;
  std::string cpu_id;               // "family/model" from /proc/cpuinfo, e.g. "6/207"
  std::string blas_config;          // openblas_get_config()
  std::string blas_core;            // openblas_get_corename(): the kernels OpenBLAS chose
  std::string blas_warning;         // non-empty when those kernels are older than the CPU's vector ISA
  int blas_threads = 0;
  int omp_threads = 0;
  std::string openblas_coretype;    // $OPENBLAS_CORETYPE or "(unset)"
  std::string build;                // compiler, build type, compiled-for ISA
  std::string heap;                 // heap_policy(): whether freed buffers are kept for the next call

  // The fields in a fixed order, values as text (numeric ones marked), for
  // JSON records, benchmark contexts and Python dicts.
  struct Field {
    std::string key, text;
    bool numeric = false;
  };
  std::vector<Field> fields() const;
};

MachineDescription describe_machine();

std::string cpu_model();
std::string vector_isa();
// OpenBLAS 0.3.21 (Debian 12) falls back to its SSE3 "Prescott" kernels on
// x86 CPUs newer than itself (seen: Xeon family 6 model 207, Emerald Rapids,
// SGEMM 30 against 196 GFLOP/s per core). Returns a warning naming the fix
// (OPENBLAS_CORETYPE) when `core` lacks AVX2 but `isa` has it; "" otherwise.
std::string blas_core_warning(const std::string& core, const std::string& isa);

}  // namespace lorafgc
