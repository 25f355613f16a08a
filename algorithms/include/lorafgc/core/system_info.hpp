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

}  // namespace lorafgc
