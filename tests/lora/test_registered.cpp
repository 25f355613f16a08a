// Registered (algorithms/src/lora/common/registered.hpp): what every
// registered algorithm's run gets from its base, seen from inside a run.
#include "lora_support.hpp"

#include <lorafgc/core/option_table.hpp>
#include <lorafgc/lora/generator.hpp>

#include "lora/common/registered.hpp"

#include <catch2/catch.hpp>

#include <omp.h>

using namespace lorafgc;
using namespace lorafgc::lora;

namespace {

// Records the OpenMP default its run sees, and the one a BLAS call inside a
// one-thread team would see (OpenBLAS's OpenMP build sizes its team by it).
class ThreadProbe final : public detail::Registered<ThreadProbe> {
 public:
  explicit ThreadProbe(const OptionValues& o) : Registered("thread-probe", o) {}
  template <class T>
  Gradients<T> run(const Problem<T>&) const {
    seen = omp_get_max_threads();
#pragma omp parallel num_threads(1)
    seen_inside_one = omp_get_max_threads();
    return {};
  }
  Cost cost(const ProblemShape&, int) const override { return {}; }
  double workspace_bytes(const ProblemShape&, int) const override { return 0; }
  mutable int seen = -1, seen_inside_one = -1;
};

ThreadProbe probe(const std::string& options) {
  const std::vector<OptionSpec> table = {integer_option("threads", 0, between(0, 64), "OpenMP threads")};
  std::map<std::string, std::string> given;
  if (!options.empty()) given["threads"] = options;
  return ThreadProbe(parse_options("thread-probe", table, Options(given)));
}

}  // namespace

TEST_CASE("a registered run sees its threads option as the OpenMP default, BLAS's teams included", "[threads]") {
  GeneratorConfig c;
  c.length = 16;
  c.width = 4;
  c.rank = 2;
  const auto p = generate<double>(c);
  const int before = omp_get_max_threads();
  {
    const ThreadProbe one = probe("1");
    one.compute(p);
    CHECK(one.seen == 1);
    CHECK(one.seen_inside_one == 1);  // without the limit: the process's default
  }
  CHECK(omp_get_max_threads() == before);
  {
    const ThreadProbe unset = probe("");  // threads=0: the process's default
    unset.compute(p);
    CHECK(unset.seen == before);
  }
  {
    const ThreadProbe three = probe("3");
    three.compute(p);
    CHECK(three.seen == 3);
  }
  CHECK(omp_get_max_threads() == before);
}
