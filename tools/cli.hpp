#pragma once
// One top-level handler for every command-line tool: CLI11 parses the command
// line (help exits 0), a BLAS running kernels older than the CPU is warned
// about on stderr, then `body` runs; any failure, a bad argument, an
// exception from the library, an OS error, running out of memory, becomes one
// line "<tool>: error: <what>" on stderr and exit status 2. Nothing aborts.
#include <lorafgc/core/machine.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <exception>
#include <new>

namespace lorafgc::cli {

template <class Body>
int run(const char* tool, CLI::App& app, int argc, char** argv, Body&& body) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "{}: error: {}\n", tool, e.what());
    return 2;
  }
  const MachineDescription machine = describe_machine();
  if (!machine.blas_warning.empty()) fmt::print(stderr, "{}: warning: {}\n", tool, machine.blas_warning);
  try {
    return body();
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "{}: error: out of memory (an allocation failed; lower the sizes)\n", tool);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: error: {}\n", tool, e.what());
  }
  return 2;
}

}  // namespace lorafgc::cli
