// The machine description every record carries, and the one median.
#include <lorafgc/core/machine.hpp>
#include <lorafgc/core/timing.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <numeric>
#include <thread>

using namespace lorafgc;

TEST_CASE("the machine description names the CPU, its vector width, BLAS and threads", "[machine]") {
  const MachineDescription m = describe_machine();
  CHECK_FALSE(m.cpu.empty());
  CHECK((m.vector_isa == "avx512" || m.vector_isa == "avx2" || m.vector_isa == "avx" || m.vector_isa == "sse4.2" ||
         m.vector_isa == "sse2" || m.vector_isa == "unknown"));
  CHECK(m.omp_threads >= 1);
  CHECK(m.physical_memory_bytes > 0);
  std::vector<std::string> keys;
  for (const auto& f : m.fields()) {
    keys.push_back(f.key);
    if (f.numeric) CHECK_NOTHROW(std::stod(f.text));
  }
  CHECK(keys == std::vector<std::string>{"cpu", "vector_isa", "hardware_threads", "physical_memory_bytes", "cpu_id",
                                         "blas_config", "blas_core", "blas_warning", "blas_threads", "omp_threads",
                                         "OPENBLAS_CORETYPE", "build", "heap"});
  CHECK(m.blas_config.find(m.blas_core) != std::string::npos);
}

TEST_CASE("OpenBLAS kernels older than the CPU's vector ISA are warned about, naming the fix", "[machine]") {
  CHECK_THAT(blas_core_warning("Prescott", "avx512"), Catch::Contains("OPENBLAS_CORETYPE=SkylakeX"));
  CHECK_THAT(blas_core_warning("Nehalem", "avx2"), Catch::Contains("OPENBLAS_CORETYPE=Haswell"));
  CHECK(blas_core_warning("SkylakeX", "avx512").empty());
  CHECK(blas_core_warning("Haswell", "avx2").empty());
  CHECK(blas_core_warning("Zen", "avx2").empty());
  // AVX2 kernels leave half of an AVX-512 CPU's GEMM rate unused.
  CHECK_THAT(blas_core_warning("Haswell", "avx512"), Catch::Contains("OPENBLAS_CORETYPE=SkylakeX"));
  CHECK_THAT(blas_core_warning("Zen", "avx512"), Catch::Contains("AVX2"));
  CHECK(blas_core_warning("Cooperlake", "avx512").empty());
  CHECK(blas_core_warning("Prescott", "sse4.2").empty());  // nothing better to choose
}

TEST_CASE("the median is the upper middle of the sorted times, and a slow run ends the repetitions", "[timing]") {
  const TimingSummary t = summarize_times({3.0, 1.0, 4.0, 2.0});
  CHECK(t.median == 3.0);
  CHECK(t.min == 1.0);
  CHECK(t.seconds == std::vector<double>{3.0, 1.0, 4.0, 2.0});
  int runs = 0;
  CHECK(time_repetitions(5, 1e9, [&] { ++runs; }).seconds.size() == 5);
  CHECK(runs == 5);
  runs = 0;
  CHECK(time_repetitions(5, -1.0, [&] { ++runs; }).seconds.size() == 1);  // every run is over a negative limit
  CHECK(runs == 1);
}

TEST_CASE("short runs are repeated until their total reaches the minimum time, up to the cap", "[timing]") {
  auto sleep_ms = [] { std::this_thread::sleep_for(std::chrono::milliseconds(2)); };
  // Runs of >= 2 ms against a 30 ms minimum: at least the 3 asked for, then more
  // until the total reaches 30 ms (at most 15 runs), and not one run more; a
  // loaded machine whose sleeps overshoot may need fewer.
  const TimingSummary t = time_repetitions(3, 1e9, sleep_ms, 0.030);
  const double total = std::accumulate(t.seconds.begin(), t.seconds.end(), 0.0);
  CHECK(t.seconds.size() >= 3);
  CHECK(t.seconds.size() <= 15);
  CHECK(total >= 0.030);
  CHECK((t.seconds.size() == 3 || total - t.seconds.back() < 0.030));
  if (t.seconds[0] + t.seconds[1] + t.seconds[2] < 0.030) CHECK(t.seconds.size() > 3);
  CHECK(time_repetitions(3, 1e9, sleep_ms, 10.0, 7).seconds.size() == 7);  // the cap wins
  CHECK(time_repetitions(3, 1e9, sleep_ms, 1e-9).seconds.size() == 3);     // the count wins
  CHECK(time_repetitions(3, 1e-9, sleep_ms, 10.0).seconds.size() == 1);    // an over-limit run ends it
}
