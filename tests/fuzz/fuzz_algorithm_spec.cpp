// libFuzzer target: any bytes as an algorithm spec. A spec either is refused
// with InvalidArgument or makes an algorithm whose canonical spec makes the
// same algorithm again, whose cost model is a number (or NaN where it needs
// the score bound), and which on a tiny problem returns finite gradients or
// refuses with InvalidArgument / NumericalError. Anything else is a finding.
//
//   build/fuzz/tests/fuzz/fuzz_algorithm_spec -max_total_time=600 CORPUS_COPY tests/fuzz/corpus/algorithm_spec
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/options.hpp>
#include <lorafgc/lora/generator.hpp>
#include <lorafgc/lora/registry.hpp>

#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstdlib>
#include <string>

namespace {

using namespace lorafgc;
using namespace lorafgc::lora;

const Problem<double>& tiny() {
  static const Problem<double> p = [] {
    GeneratorConfig c;
    c.length = 9;
    c.width = 2;
    c.rank = 1;
    c.adaptation = Adaptation::Full;
    c.score_bound = 1.0;
    return generate<double>(c);
  }();
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string spec(reinterpret_cast<const char*>(data), size);
  std::unique_ptr<Algorithm> algorithm;
  try {
    algorithm = make_algorithm(spec);
  } catch (const InvalidArgument&) {
    return 0;
  }
  if (make_algorithm(algorithm->spec())->spec() != algorithm->spec()) std::abort();
  (void)algorithm->flops(shape_of(tiny(), false));
  // A calibrated auto times its candidates on calibration shapes once per
  // process and thread count: about 2 s natively, over the 10 s timeout under
  // ASan (a finding that is only the sanitiser's slowdown). Its planning and
  // choice run with calibrated=false; test_auto.cpp runs the calibrated one.
  if (const AlgorithmSpec s = parse_algorithm_spec(algorithm->spec());
      s.name == "auto" && s.options.get_bool("calibrated", true))
    return 0;
  try {
    const Gradients<double> g = algorithm->compute(tiny());
    if (!std::isfinite(g.loss)) std::abort();
  } catch (const InvalidArgument&) {
  } catch (const NumericalError&) {
  }
  return 0;
}
