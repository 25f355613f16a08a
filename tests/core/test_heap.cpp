// Freed buffers kept for the next call (heap.hpp): counted in page faults, not
// timed. A 16 MiB buffer is 4096 pages; allocated, written and freed twice,
// the second round faults them in again only if the allocator gave the block
// back to the kernel. 64 MiB is above the largest mmap threshold glibc takes.
#include <lorafgc/core/heap.hpp>
#include <lorafgc/core/machine.hpp>

#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <memory>

using namespace lorafgc;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool sanitized_allocator = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool sanitized_allocator = true;
#else
constexpr bool sanitized_allocator = false;
#endif
#else
constexpr bool sanitized_allocator = false;
#endif

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Faults taken while a buffer of `mib` MiB is allocated, written and freed.
long faults_of_one_round(std::size_t mib = 16) {
  const std::size_t bytes = mib << 20;
  const long before = minor_faults();
  char* p = static_cast<char*>(std::malloc(bytes));
  REQUIRE(p);
  std::memset(p, 1, bytes);
  // The compiler may otherwise drop the malloc, memset and free together.
  asm volatile("" : : "r"(p) : "memory");
  std::free(p);
  return minor_faults() - before;
}

}  // namespace

TEST_CASE("with freed memory retained, a second 16 or 64 MiB buffer is not faulted in again", "[heap]") {
  const char* env = std::getenv("LORAFGC_HEAP");
  if (env && std::strcmp(env, "system") == 0) {
    WARN("LORAFGC_HEAP=system: the allocator is left as it is, nothing to test");
    return;
  }
  retain_freed_memory();
  retain_freed_memory();  // once per process: a second call changes nothing
  if (sanitized_allocator) {
    // The sanitizer's allocator replaces glibc's and refuses mallopt: the
    // record must say so rather than claim the buffers are kept.
    CHECK(heap_policy() == "system");
    return;
  }
  REQUIRE(heap_policy().rfind("retained", 0) == 0);
  faults_of_one_round();
  // 4096 pages were faulted in the first round; the second reuses them. The
  // allowance is for the allocator's own bookkeeping pages.
  CHECK(faults_of_one_round() < 64);
  faults_of_one_round(64);
  CHECK(faults_of_one_round(64) < 64);
  CHECK(describe_machine().heap == heap_policy());
}

TEST_CASE("release_freed_memory returns what was kept, so a peak resident set counts only live buffers", "[heap]") {
  retain_freed_memory();
  faults_of_one_round();
  release_freed_memory();
  // Given back, the next round must fault the pages in again (at least half of
  // its 4096: the kernel may map a few ahead; with transparent huge pages
  // "always", not Debian's default "madvise", it would map 2 MiB at a time).
  CHECK(faults_of_one_round() > 2048);
}
