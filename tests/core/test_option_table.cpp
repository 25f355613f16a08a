// Options declared once: parsing, ranges, choices, defaults, the canonical text
// and the help are all generated from one table.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/option_table.hpp>

#include <catch2/catch.hpp>

using namespace lorafgc;

namespace {

const std::vector<OptionSpec> table = {
    integer_option("block", 64, at_least(1), "rows per block"),
    real_option("eps", 1e-3, open_interval(0, 1), "relative error"),
    integer_option("degree", -1, between(-1, 200), "fixed degree"),
    boolean_option("weights", false, "full weight gradients"),
    choice_option("schedule", {"panel", "stream"}, "how"),
};

OptionValues parse(const std::string& spec) {
  const AlgorithmSpec s = parse_algorithm_spec("algo" + (spec.empty() ? "" : ":" + spec));
  return parse_options("algo", table, s.options);
}

}  // namespace

TEST_CASE("defaults come from the table and parse like given values", "[options]") {
  const OptionValues v = parse("");
  CHECK(v.integer("block") == 64);
  CHECK(v.real("eps") == 1e-3);
  CHECK(v.integer("degree") == -1);
  CHECK_FALSE(v.boolean("weights"));
  CHECK(v.choice("schedule") == "panel");
  CHECK(v.canonical() == "block=64,degree=-1,eps=0.001,schedule=panel,weights=false");
}

TEST_CASE("given values are typed, checked and canonical text parses back to the same values", "[options]") {
  const OptionValues v = parse("block=7, eps=2.5e-4,weights=yes,schedule=stream");
  CHECK(v.integer("block") == 7);
  CHECK(v.real("eps") == 2.5e-4);
  CHECK(v.boolean("weights"));
  CHECK(v.choice("schedule") == "stream");
  CHECK(parse(v.canonical()).canonical() == v.canonical());
}

TEST_CASE("bad option values are errors naming the option", "[options]") {
  const auto rejects = [](const std::string& spec, const std::string& option) {
    INFO(spec);
    try {
      parse(spec);
      FAIL("accepted");
    } catch (const InvalidArgument& e) {
      CHECK(e.argument() == "option '" + option + "'");
    }
  };
  rejects("block=0", "block");          // below the range
  rejects("block=1.5", "block");        // not an integer
  rejects("eps=1", "eps");              // open interval
  rejects("eps=0", "eps");
  rejects("eps=nan", "eps");
  rejects("degree=201", "degree");
  rejects("degree=-2", "degree");
  rejects("weights=maybe", "weights");
  rejects("schedule=diagonal", "schedule");
  rejects("blok=3", "blok");            // not declared
  rejects("block=9007199254740993", "block");  // 2^53 + 1: no longer exact as the double it is kept in
  rejects("block=9223372036854775807", "block");
  rejects("degree=-9223372036854775808", "degree");
  CHECK(parse("block=9007199254740992").integer("block") == 9007199254740992LL);
}

TEST_CASE("ranges print as intervals and the help lists every option with its default", "[options]") {
  CHECK(at_least(1).text() == "[1, inf)");
  CHECK(open_interval(0, 1).text() == "(0, 1)");
  CHECK(between(-1, 200).text() == "[-1, 200]");
  const std::string help = options_help(table);
  for (const char* piece : {"block=64", "integer in [1, inf)", "eps=0.001", "real in (0, 1)", "weights=false",
                            "schedule=panel", "'panel' or 'stream'"})
    CHECK(help.find(piece) != std::string::npos);
}
