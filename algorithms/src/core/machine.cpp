#include <lorafgc/core/heap.hpp>
#include <lorafgc/core/machine.hpp>
#include <lorafgc/core/system_info.hpp>

#include <fstream>
#include <set>
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

std::string cpu_id() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, family = "?", model = "?";
  auto value = [&] { return line.substr(line.find(':') + 2); };
  while (std::getline(in, line) && (family == "?" || model == "?")) {
    if (line.rfind("cpu family", 0) == 0) family = value();
    if (line.rfind("model\t", 0) == 0 || line.rfind("model :", 0) == 0) model = value();
  }
  return family + "/" + model;
}

std::string blas_core_warning(const std::string& core, const std::string& isa) {
  static const std::set<std::string> pre_avx2 = {"Prescott",   "Core2",     "Penryn",      "Dunnington", "Nehalem",
                                                 "Atom",       "Katmai",    "Coppermine",  "Northwood",  "Banias",
                                                 "Sandybridge", "Barcelona", "Opteron",     "Bobcat",     "Bulldozer",
                                                 "Piledriver", "Steamroller"};
  // AVX2 kernels on an AVX-512 CPU: on a Zen 5, SGEMM 2048 ran at 130-150 GFLOP/s with
  // OPENBLAS_CORETYPE=Haswell against 250-290 with SkylakeX or Cooperlake (same minutes).
  static const std::set<std::string> avx2 = {"Haswell", "Zen", "Excavator"};
  const std::string better = isa == "avx512" ? "SkylakeX (Cooperlake if the CPU has avx512_bf16)" : "Haswell";
  const std::string advice = ": set OPENBLAS_CORETYPE=" + better + " before starting (run.sh does)";
  if ((isa == "avx512" || isa == "avx2") && pre_avx2.count(core))
    return "OpenBLAS runs its " + core + " kernels on this " + isa +
           " CPU (it does not recognise the model; GEMM is several times slower)" + advice;
  if (isa == "avx512" && avx2.count(core))
    return "OpenBLAS runs its " + core + " kernels (AVX2) on this avx512 CPU (GEMM about 2x slower)" + advice;
  return "";
}

MachineDescription describe_machine() {
  MachineDescription m;
  m.cpu = cpu_model();
  m.vector_isa = vector_isa();
  m.hardware_threads = std::thread::hardware_concurrency();
  m.physical_memory_bytes = physical_memory_bytes();
  m.cpu_id = cpu_id();
  m.blas_config = blas_config();
  m.blas_core = blas_core();
  m.blas_warning = blas_core_warning(m.blas_core, m.vector_isa);
  m.blas_threads = blas_threads();
  m.omp_threads = omp_threads();
  m.openblas_coretype = openblas_coretype();
  m.build = build_description();
  m.heap = heap_policy();
  return m;
}

std::vector<MachineDescription::Field> MachineDescription::fields() const {
  return {{"cpu", cpu, false},
          {"vector_isa", vector_isa, false},
          {"hardware_threads", std::to_string(hardware_threads), true},
          {"physical_memory_bytes", std::to_string(static_cast<long long>(physical_memory_bytes)), true},
          {"cpu_id", cpu_id, false},
          {"blas_config", blas_config, false},
          {"blas_core", blas_core, false},
          {"blas_warning", blas_warning, false},
          {"blas_threads", std::to_string(blas_threads), true},
          {"omp_threads", std::to_string(omp_threads), true},
          {"OPENBLAS_CORETYPE", openblas_coretype, false},
          {"build", build, false},
          {"heap", heap, false}};
}

}  // namespace lorafgc
