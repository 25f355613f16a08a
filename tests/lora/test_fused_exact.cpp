// exact's fused schedule (lora/exact/fused_kernel.hpp) against exact-reference
// at every tile edge, for head widths 1 .. 128, scores up to 1e4, float and
// double, with and without the kept exponentials, and on every SIMD target
// Highway compiled in and this machine supports (forced one at a time: the
// AVX2 path runs on an AVX-512 machine too).
#include "lora_support.hpp"

#include "lora/exact/exact.hpp"
#include "lora/exact/fused_kernel.hpp"

#include <catch2/catch.hpp>

#include <bitset>
#include <string>
#include <vector>

using namespace lorafgc;
using namespace lorafgc::lora;

namespace {

// Restores the dispatch to every supported target when a test ends.
struct ForcedTarget {
  explicit ForcedTarget(std::int64_t target) { detail::fused_force_targets(target); }
  ~ForcedTarget() { detail::fused_force_targets(0); }
};

std::vector<std::int64_t> supported_targets() {
  std::vector<std::int64_t> out;
  const std::int64_t all = detail::fused_supported_targets();
  for (int bit = 0; bit < 63; ++bit)
    if (all & (std::int64_t{1} << bit)) out.push_back(std::int64_t{1} << bit);
  return out;
}

template <class T>
void check_against_reference(const GeneratorConfig& c, const std::string& options) {
  const Problem<T> p = generate<T>(c);
  const auto truth = make_algorithm("exact-reference")->compute(to_float64(p));
  const auto spec = "exact:schedule=fused,tile=64," + options;
  const auto got = make_algorithm(spec)->compute(p);
  const ErrorMetrics e = compare_gradients(got, truth);
  INFO(spec << " " << dtype_name<T>() << " L=" << c.length << " d=" << c.width << " T=" << c.score_bound
            << " target " << detail::fused_target_name() << ": max_rel " << e.max_rel);
  CHECK(std::isfinite(got.loss));
  CHECK(e.max_rel <= registration("exact").accuracy.tolerance(sizeof(T)));
}

}  // namespace

TEST_CASE("the fused kernel matches exact-reference on every supported SIMD target", "[exact][fused]") {
  const auto targets = supported_targets();
  REQUIRE(!targets.empty());
  int runs = 0;
  for (std::int64_t target : targets) {
    ForcedTarget forced(target);
    INFO("target " << detail::fused_target_name());
    // L around the tile (64 keys) and the vector widths: smaller than a tile,
    // a multiple, one past, several tiles with a ragged end, and L = 1.
    for (long long L : {1LL, 5LL, 63LL, 64LL, 65LL, 200LL})
      for (long long d : {1LL, 3LL, 8LL, 13LL}) {
        auto c = test::config(L, d, 2, (L + d) % 2 ? Adaptation::Full : Adaptation::Partial, 1.0, 11);
        for (const std::string options : {"recompute=false", "recompute=true"}) {
          check_against_reference<float>(c, options);
          check_against_reference<double>(c, options);
          runs += 2;
        }
      }
  }
  CHECK(runs == static_cast<int>(targets.size()) * 6 * 4 * 4);
}

TEST_CASE("the fused kernel rescales many kept tiles on every supported SIMD target", "[exact][fused]") {
  // 18 tiles of 64 keys with a ragged end: the backward's rescales exp(m_t - m)
  // of the kept tiles fill whole vectors (16 floats on AVX-512) and a tail, and
  // with scores up to 30 the running max moves across tiles.
  auto c = test::config(1100, 5, 2, Adaptation::Partial, 1.0, 12);
  c.score_bound = 30;
  for (std::int64_t target : supported_targets()) {
    ForcedTarget forced(target);
    INFO("target " << detail::fused_target_name());
    check_against_reference<float>(c, "recompute=false");
    check_against_reference<double>(c, "recompute=false");
  }
}

TEST_CASE("the fused kernel: wide heads, large scores, batches and weights", "[exact][fused]") {
  for (long long d : {16LL, 31LL, 64LL, 128LL}) {
    auto c = test::config(70, d, 3, Adaptation::Full, 1.0, 4);
    check_against_reference<float>(c, "recompute=false");
    check_against_reference<double>(c, "block=7");
  }
  // Scores up to 1e4: every row is dominated by a few keys; the running max
  // keeps exp finite and the rescaling of earlier tiles exact.
  for (double T : {1e2, 1e4}) {
    auto c = test::config(300, 4, 2, Adaptation::Partial, 1.0, 6);
    c.score_bound = T;
    check_against_reference<double>(c, "recompute=false");
    check_against_reference<double>(c, "recompute=true");
    check_against_reference<float>(c, "recompute=false");
  }
  auto c = test::config(129, 6, 2, Adaptation::Full, 1.0, 8);
  c.batch = 3;
  check_against_reference<double>(c, "weights=true");
  check_against_reference<float>(c, "weights=true,threads=2,block=16");
}

TEST_CASE("auto runs fused up to d = 48, and panel for wider heads up to L = 2048", "[exact][fused]") {
  auto c = test::config(80, 8, 2, Adaptation::Partial, 1.0, 2);
  const auto g = make_algorithm("exact")->compute(generate<double>(c));
  CHECK(g.info.at("schedule") == 2);
  c.width = 64;
  CHECK(make_algorithm("exact")->compute(generate<double>(c)).info.at("schedule") == 0);
  CHECK(exact_schedule_for(48, 1 << 16) == ExactSchedule::Fused);
  CHECK(exact_schedule_for(49, 2048) == ExactSchedule::Panel);
  CHECK(exact_schedule_for(128, 2049) == ExactSchedule::Fused);
  // The cost model prices the schedule auto runs at that shape.
  ProblemShape s;
  s.width = 64;
  s.rank = 2;
  s.length = 1024;
  const double panel = make_algorithm("exact:schedule=panel")->cost(s, 4).bytes;
  CHECK(make_algorithm("exact")->cost(s, 4).bytes == panel);
  s.length = 4096;
  CHECK(make_algorithm("exact")->cost(s, 4).bytes == make_algorithm("exact:schedule=fused")->cost(s, 4).bytes);
}

TEST_CASE("a tile wider than the sequence is clamped to it, not allocated", "[exact][fused]") {
  // Fuzz finding: tile=887841875 made the fused scratch ask for 28 GB. 2^53 is
  // the largest integer option accepted; unclamped, the column loops overflow.
  const Problem<double> p = generate<double>(test::config(70, 4, 2, Adaptation::Full, 1.0, 9));
  const auto truth = make_algorithm("exact-reference")->compute(p);
  for (const char* tile : {"887841875", "9007199254740992"})
    for (const char* schedule : {"fused", "stream"}) {
      const std::string spec = std::string("exact:block=2,schedule=") + schedule + ",tile=" + tile;
      INFO(spec);
      const ErrorMetrics e = compare_gradients(make_algorithm(spec)->compute(p), truth);
      CHECK(e.max_rel <= registration("exact").accuracy.tolerance(sizeof(double)));
    }
}
