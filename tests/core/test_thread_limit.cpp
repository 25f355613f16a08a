// ThreadLimit: an algorithm's threads option bounds OpenMP and, through the
// caller's OpenMP default that OpenBLAS's OpenMP build reads, BLAS.
#include <lorafgc/core/system_info.hpp>

#include <catch2/catch.hpp>

#include <omp.h>

using namespace lorafgc;

namespace {

// omp_get_max_threads() inside a team of one thread: what a BLAS call made
// there sees. Such a team is not "in parallel" to OpenMP (omp_in_parallel()
// is false), so this default alone keeps BLAS from opening a nested team.
int default_inside_one_thread() {
  int inside = 0;
#pragma omp parallel num_threads(1)
  inside = omp_get_max_threads();
  return inside;
}

}  // namespace

TEST_CASE("a thread limit sets the caller's OpenMP default for its lifetime, one-thread teams included", "[threads]") {
  const int before = omp_get_max_threads();
  CHECK(default_inside_one_thread() == before);  // what the limit is for, with 2 or more threads
  {
    const ThreadLimit keep(0);
    CHECK(omp_get_max_threads() == before);
  }
  {
    const ThreadLimit one(1);
    CHECK(omp_get_max_threads() == 1);
    CHECK(default_inside_one_thread() == 1);
  }
  CHECK(omp_get_max_threads() == before);
  {
    const ThreadLimit three(3);
    CHECK(omp_get_max_threads() == 3);
  }
  CHECK(omp_get_max_threads() == before);
}
