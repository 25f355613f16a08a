#include "benchmark_context.hpp"

#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/heap.hpp>
#include <lorafgc/core/machine.hpp>
#include <lorafgc/core/system_info.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace lorafgc::bench {

void add_context() {
  const MachineDescription machine = describe_machine();
  if (!machine.blas_warning.empty()) std::fprintf(stderr, "warning: %s\n", machine.blas_warning.c_str());
  for (const auto& f : machine.fields())
    benchmark::AddCustomContext(f.key == "build" ? "lorafgc_build" : f.key, f.text);
}

// What earlier benchmarks kept (retain_freed_memory) is not this one's peak.
void reset_peak_memory() {
  release_freed_memory();
  reset_peak_rss();
}

void record_peak_memory(benchmark::State& state) {
  state.counters["peak_MiB"] = static_cast<double>(peak_rss_bytes()) / (1024.0 * 1024.0);
}

bool take_flag(const char* arg, const char* name, std::string& value) {
  const std::size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  value = arg + n + 1;
  return true;
}

bool take_flag(const char* arg, const char* name, long long& value) {
  std::string text;
  if (!take_flag(arg, name, text)) return false;
  errno = 0;
  char* end = nullptr;
  value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || value < 1)
    throw InvalidArgument(name, "expected an integer >= 1, got '" + text + "'");
  return true;
}

int guarded_main(const char* tool, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", tool, e.what());
    return 2;
  }
}

int benchmark_main(const char* tool, int argc, char** argv, const std::function<bool(const char*)>& take_own,
                   const std::function<void()>& register_benchmarks) {
  retain_freed_memory();
  return guarded_main(tool, [&] {
    std::vector<char*> rest;
    for (int i = 0; i < argc; ++i)
      if (i == 0 || !take_own || !take_own(argv[i])) rest.push_back(argv[i]);
    int rest_count = static_cast<int>(rest.size());
    benchmark::Initialize(&rest_count, rest.data());
    add_context();
    if (register_benchmarks) register_benchmarks();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
  });
}

std::vector<std::string> split_specs(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < list.size()) {
    const auto end = std::min(list.find(';', start), list.size());
    if (end > start) out.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string join_specs(const std::vector<std::string>& specs) {
  std::string out;
  for (const auto& s : specs) out += (out.empty() ? "" : ";") + s;
  return out;
}

}  // namespace lorafgc::bench
