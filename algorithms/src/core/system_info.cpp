#include <lorafgc/core/limits.hpp>
#include <lorafgc/core/system_info.hpp>

#include <cblas.h>
#include <omp.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace lorafgc {

std::string blas_config() {
  const char* c = openblas_get_config();
  return c ? c : "unknown";
}
std::string blas_core() {
  const char* c = openblas_get_corename();
  return c ? c : "unknown";
}
int blas_threads() { return openblas_get_num_threads(); }
int omp_threads() { return omp_get_max_threads(); }

std::string openblas_coretype() {
  const char* v = std::getenv("OPENBLAS_CORETYPE");
  return v ? v : "(unset)";
}

std::string build_description() {
  std::ostringstream out;
#if defined(__clang__)
  out << "clang " << __clang_major__ << "." << __clang_minor__;
#elif defined(__GNUC__)
  out << "gcc " << __GNUC__ << "." << __GNUC_MINOR__;
#endif
#ifdef NDEBUG
  out << ", release";
#else
  out << ", debug";
#endif
#ifdef __AVX512F__
  out << ", avx512";
#elif defined(__AVX2__)
  out << ", avx2";
#endif
#ifdef EIGEN_USE_BLAS
  out << ", eigen->blas";
#endif
  return out.str();
}

void set_threads(int threads) {
  require_count("threads", threads, Quantity::threads);
  if (threads == 0) return;
  require_threads_fit("threads", threads);
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

ThreadLimit::ThreadLimit(int threads) : before_(0) {
  if (threads > 0 && threads != omp_get_max_threads()) before_ = omp_get_max_threads(), omp_set_num_threads(threads);
}

ThreadLimit::~ThreadLimit() {
  if (before_ > 0) omp_set_num_threads(before_);
}

// Once per process: glibc asks the kernel (sysinfo) each time, 1-2 us on these
// virtual machines, and the polynomial method's cost model asks on every call.
double physical_memory_bytes() {
  static const double bytes = [] {
    const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? static_cast<double>(pages) * size : 8e9;
  }();
  return bytes;
}

long long peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;
  return -1;
}

bool reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

}  // namespace lorafgc
