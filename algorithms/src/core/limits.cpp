#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/core/system_info.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <thread>

namespace lorafgc {

namespace {

constexpr long long kInt32 = (1LL << 31) - 1;

// Oversubscribing the cores more than 4x only slows a run down; OpenBLAS's
// OpenMP build is compiled for at most 64 threads, and each thread costs it
// buffers of tens of MiB (thousands of threads exhaust memory or crash).
long long max_threads() {
  const long long hardware = std::max(1u, std::thread::hardware_concurrency());
  return std::min(64LL, 4 * hardware);
}

double cgroup_memory_max() {
  std::ifstream in("/sys/fs/cgroup/memory.max");
  std::string text;
  if (!(in >> text) || text == "max") return 0;
  try {
    return std::stod(text);
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

const std::array<CountLimit, 12>& limit_table() {
  static const std::array<CountLimit, 12> table = {{
      {Quantity::length, "sequence length", 1, kInt32, "BLAS indexes rows with 32-bit integers"},
      {Quantity::examples, "examples", 1, kInt32, "BLAS indexes rows with 32-bit integers"},
      {Quantity::width, "width", 1, 1 << 16, "weights and features are width x width or wider"},
      {Quantity::rank, "rank", 1, 1 << 16, "a LoRA rank above the widths this suite allows adapts nothing more"},
      {Quantity::batch, "batch", 1, kInt32, "batches are counted in 32-bit integers"},
      {Quantity::tasks, "tasks", 1, kInt32, "task sets are counted in 32-bit integers"},
      {Quantity::layers, "layers", 1, 1 << 16, "each layer holds width x width parameters"},
      {Quantity::threads, "threads", 0, max_threads(), "more than 4 threads per core (at most OpenBLAS's 64) only slows down"},
      {Quantity::steps, "steps", 0, kInt32, "steps are counted in 32-bit integers"},
      {Quantity::units, "ReLU units", 3, 1 << 20, "each unit becomes attention heads in every fitted layer"},
      {Quantity::loops, "loops", 0, 1 << 20, "loops are applied one after the other"},
      {Quantity::repetitions, "repetitions", 1, 1 << 20, "repetitions are timed one after the other"},
  }};
  return table;
}

const CountLimit& limit(Quantity q) { return limit_table()[static_cast<std::size_t>(q)]; }

void require_count(const std::string& name, long long value, Quantity q) {
  const CountLimit& l = limit(q);
  if (value >= l.min && value <= l.max) return;
  throw InvalidArgument(name, "the " + std::string(l.what) + " must lie in [" + std::to_string(l.min) + ", " +
                                  std::to_string(l.max) + "], got " + std::to_string(value) + " (" + l.why + ")");
}

namespace {

// Address space in use by this process (VmSize), or 0 if unknown.
double address_space_used() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmSize:", 0) == 0) return std::atof(line.c_str() + 7) * 1024;
  return 0;
}

}  // namespace

void require_threads_fit(const std::string& name, long long threads) {
  rlimit as{};
  if (threads <= 1 || getrlimit(RLIMIT_AS, &as) != 0 || as.rlim_cur == RLIM_INFINITY) return;
  constexpr double kPerThread = 256.0 * (1 << 20);
  const double left = static_cast<double>(as.rlim_cur) - address_space_used();
  if (threads * kPerThread <= left) return;
  throw InvalidArgument(name, std::to_string(threads) + " threads need about " + bytes_text(threads * kPerThread) +
                                  " of address space (OpenBLAS buffer, malloc arena and stack per thread), but the "
                                  "address-space limit (ulimit -v) leaves " + bytes_text(left) + "; use fewer threads");
}

namespace {

double read_memory_budget_bytes() {
  double usable = physical_memory_bytes();
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)
    usable = std::min(usable, static_cast<double>(as.rlim_cur));
  if (const double cgroup = cgroup_memory_max(); cgroup > 0) usable = std::min(usable, cgroup);
  return usable / 2;
}

}  // namespace

// Read at most once a second per thread: every algorithm's call checks its
// workspace against it, and the reads (a file, two system calls) took 5-8 us of
// each (4% of exact at L = 512, d = 4, 6% of auto's plan). A limit changed
// under a running process is seen within the second.
double memory_budget_bytes() {
  using Clock = std::chrono::steady_clock;
  thread_local Clock::time_point read_at;
  thread_local double budget = -1;
  const Clock::time_point now = Clock::now();
  if (budget < 0 || now - read_at > std::chrono::seconds(1)) budget = read_memory_budget_bytes(), read_at = now;
  return budget;
}

std::string bytes_text(double bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024 && u < 6) {
    bytes /= 1024;
    ++u;
  }
  char text[64];
  std::snprintf(text, sizeof text, u == 0 ? "%.0f %s" : "%.3g %s", bytes, units[u]);
  return text;
}

std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", value);
  return text;
}

void require_memory(const std::string& name, double bytes, const std::string& what) {
  const double budget = memory_budget_bytes();
  if (bytes <= budget) return;
  throw InvalidArgument(name, what + " needs " + bytes_text(bytes) + ", over the memory budget of " +
                                  bytes_text(budget) + " (half of the usable memory)");
}

}  // namespace lorafgc
