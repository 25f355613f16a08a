#include <lorafgc/core/machine.hpp>
#include <lorafgc/core/system_info.hpp>

#include <fstream>
#include <thread>

namespace lorafgc {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string vector_isa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "avx512";
  if (__builtin_cpu_supports("avx2")) return "avx2";
  if (__builtin_cpu_supports("avx")) return "avx";
  if (__builtin_cpu_supports("sse4.2")) return "sse4.2";
  return "sse2";
#else
  return "unknown";
#endif
}

MachineDescription describe_machine() {
  MachineDescription m;
  m.cpu = cpu_model();
  m.vector_isa = vector_isa();
  m.hardware_threads = std::thread::hardware_concurrency();
  m.physical_memory_bytes = physical_memory_bytes();
  m.blas_config = blas_config();
  m.blas_threads = blas_threads();
  m.omp_threads = omp_threads();
  m.openblas_coretype = openblas_coretype();
  m.build = build_description();
  return m;
}

std::vector<MachineDescription::Field> MachineDescription::fields() const {
  return {{"cpu", cpu, false},
          {"vector_isa", vector_isa, false},
          {"hardware_threads", std::to_string(hardware_threads), true},
          {"physical_memory_bytes", std::to_string(static_cast<long long>(physical_memory_bytes)), true},
          {"blas_config", blas_config, false},
          {"blas_threads", std::to_string(blas_threads), true},
          {"omp_threads", std::to_string(omp_threads), true},
          {"OPENBLAS_CORETYPE", openblas_coretype, false},
          {"build", build, false}};
}

}  // namespace lorafgc
