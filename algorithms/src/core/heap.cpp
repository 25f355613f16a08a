#include <lorafgc/core/heap.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace lorafgc {

namespace {

constexpr int kTrimThreshold = 1 << 30;
std::atomic<bool> retained{false};
std::once_flag once;

}  // namespace

void retain_freed_memory() {
  std::call_once(once, [] {
    const char* v = std::getenv("LORAFGC_HEAP");
    if (v && std::strcmp(v, "system") == 0) return;
    if (v && *v)  // a misspelt opt-out must not pass unnoticed
      std::fprintf(stderr, "lorafgc: warning: LORAFGC_HEAP='%s' is not 'system'; freed buffers are kept\n", v);
#if defined(__GLIBC__)
    // No block is mapped on its own: a raised M_MMAP_THRESHOLD (at most 32 MiB)
    // still mapped and unmapped every L x d buffer of L = 2^20, d = 8 per call.
    retained = mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
#endif
  });
}

std::string heap_policy() { return retained ? "retained (no mmap, trim threshold 1 GiB)" : "system"; }

void release_freed_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace lorafgc
