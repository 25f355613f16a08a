// libFuzzer target: any bytes as a sweep config. The only acceptable outcomes
// are a parsed config or InvalidArgument; anything else (a crash, a sanitizer
// report, another exception escaping, a hang past -timeout) is a finding.
//
//   build/fuzz/tests/fuzz/fuzz_sweep_config -max_total_time=600 CORPUS_COPY tests/fuzz/corpus/sweep_config
#include "sweep/sweep_config.hpp"

#include <lorafgc/core/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto config = lorafgc::sweep::parse_sweep_config(lorafgc::sweep::parse_config_text(text, "fuzz input"));
    (void)config.point_count();
    (void)config.hash();
  } catch (const lorafgc::InvalidArgument&) {
  }
  return 0;
}
