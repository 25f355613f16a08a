#include "lora_support.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace lorafgc;
using namespace lorafgc::lora;

TEST_CASE("algorithm specs parse into name and options", "[registry]") {
  const auto s = parse_algorithm_spec("exact: block=32 ,threads=2");
  CHECK(s.name == "exact");
  CHECK(s.options.get_int("block", 0) == 32);
  CHECK(s.options.get_int("threads", 0) == 2);
  CHECK_THROWS_AS(parse_algorithm_spec(":block=3"), InvalidArgument);
  CHECK_THROWS_AS(parse_algorithm_spec("exact:block"), InvalidArgument);
}

TEST_CASE("unknown algorithms and options are errors naming them", "[registry]") {
  CHECK_THROWS_WITH(make_algorithm("fastest"), Catch::Contains("fastest"));
  CHECK_THROWS_WITH(make_algorithm("exact:blok=3"), Catch::Contains("blok"));
  CHECK_THROWS_WITH(make_algorithm("exact:block=-1"), Catch::Contains("block"));
  CHECK_THROWS_WITH(make_algorithm("exact:block=abc"), Catch::Contains("block"));
  CHECK_THROWS_WITH(make_algorithm("exact:weights=maybe"), Catch::Contains("weights"));
}

TEST_CASE("every registered algorithm round-trips through its spec", "[registry]") {
  const auto p = generate<double>(test::config(20, 4, 2, Adaptation::Partial));
  for (const auto& info : registered_algorithms()) {
    const auto a = make_algorithm(info.name);
    CHECK(a->name() == info.name);
    const auto again = make_algorithm(a->spec());
    CHECK(again->spec() == a->spec());
    CHECK(compare_gradients(again->compute(p), a->compute(p)).max_abs == 0.0);
  }
}

TEST_CASE("exact counts L^2 (3d + 4r) multiply-adds for partial and 3d + 6r for full", "[registry]") {
  ProblemShape s;
  s.length = 1000;
  s.width = 64;
  s.rank = 8;
  s.adapted = {true, false, true};
  const auto exact = make_algorithm("exact");
  CHECK(exact->flops(s) == Approx(2.0 * 1000 * 1000 * (3 * 64 + 4 * 8)));
  CHECK(nominal_exact_flops(s) == Approx(5 * 2.0 * 1000 * 1000 * 64));
  s.adapted = {true, true, true};
  CHECK(exact->flops(s) == Approx(2.0 * 1000 * 1000 * (3 * 64 + 6 * 8)));
  CHECK(nominal_exact_flops(s) == Approx(6 * 2.0 * 1000 * 1000 * 64));
  // The streaming schedule recomputes S: one more L x L x d product.
  CHECK(make_algorithm("exact:schedule=stream")->flops(s) == Approx(2.0 * 1000 * 1000 * (4 * 64 + 6 * 8)));
  CHECK_THROWS_WITH(make_algorithm("exact:schedule=diagonal"), Catch::Contains("schedule"));
}

TEST_CASE("the registry lists the oracle first, then exact, then approximate algorithms", "[registry]") {
  const auto& all = registered_algorithms();
  REQUIRE_FALSE(all.empty());
  CHECK(all.front().oracle);
  std::set<std::string> names;
  for (std::size_t i = 0; i < all.size(); ++i) {
    CHECK(names.insert(all[i].name).second);  // unique
    if (i > 0) CHECK((!all[i - 1].oracle || !all[i].oracle));
    if (i > 0 && !all[i - 1].exact) CHECK_FALSE(all[i].exact);
    CHECK(registration(all[i].name).name == all[i].name);
    for (const auto& spec : all[i].variants) CHECK(make_algorithm(spec)->name() == all[i].name);
  }
  std::vector<std::string> every;
  for (const auto& r : all) every.push_back(r.name);
  CHECK(registered_specs([](const Registration&) { return true; }, true) == every);
  CHECK_THROWS_WITH(registration("fastest"), Catch::Contains("fastest") && Catch::Contains(every.front()));
}

TEST_CASE("the help text lists every algorithm with every option and its default", "[registry]") {
  const std::string help = algorithms_help();
  for (const auto& r : registered_algorithms()) {
    CHECK(help.find(r.name + (r.exact ? " (exact)" : " (approximate)")) != std::string::npos);
    for (const auto& o : r.options) CHECK(help.find(o.name + "=" + o.default_value) != std::string::npos);
  }
}
