#pragma once
// What a benchmark record needs to be reproducible: BLAS build and threads.
#include <string>

namespace lorafgc {

std::string blas_config();          // openblas_get_config()
std::string blas_core();            // openblas_get_corename()
int blas_threads();                 // openblas_get_num_threads()
int omp_threads();                  // omp_get_max_threads()
std::string openblas_coretype();    // $OPENBLAS_CORETYPE or "(unset)"
std::string build_description();    // compiler, flags, build type
void set_threads(int threads);      // OpenMP and OpenBLAS together; 0 keeps them; InvalidArgument("threads") past the limit
double physical_memory_bytes();   // sysconf; 8e9 if unknown
long long peak_rss_bytes();         // VmHWM of this process
bool reset_peak_rss();              // clear VmHWM (Linux clear_refs); false if refused

// For its lifetime, the calling thread's OpenMP default is `threads` (0: kept),
// and so its BLAS calls': OpenBLAS's OpenMP build follows omp_get_max_threads()
// of the caller, and inside a team of one thread (not "in parallel" to OpenMP)
// it opened a nested team of the default size on every call: with threads=1,
// poly-taylor at L = 512, d = 4 (partial, T = 1, Zen 5, through Python) took
// 645 us against 165 us with 2 threads; in this scope 207 us.
class ThreadLimit {
 public:
  explicit ThreadLimit(int threads);
  ~ThreadLimit();
  ThreadLimit(const ThreadLimit&) = delete;
  ThreadLimit& operator=(const ThreadLimit&) = delete;

 private:
  int before_;
};

}  // namespace lorafgc
