// lorafgc-sweep: run a grid of (algorithm x mode x dtype x d x r x gamma|T x L)
// from a JSON config, appending one JSON record per point to a results file
// that a killed sweep resumes from. See README, "Run a sweep".
//
//   lorafgc-sweep run CONFIG --output results.jsonl
//   mpirun -n P lorafgc-sweep run CONFIG --output results.jsonl   (sweep/distributed.hpp)
//   lorafgc-sweep check CONFIG           (validate, print the number of points)
#include "cli.hpp"
#include "sweep/chain_runner.hpp"
#include "sweep/distributed.hpp"
#include "sweep/machine_record.hpp"
#include "sweep/progress.hpp"
#include "sweep/results_file.hpp"
#include "sweep/sweep_config.hpp"

#include <lorafgc/core/heap.hpp>
#include <lorafgc/core/system_info.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

namespace {

using namespace lorafgc;
using namespace lorafgc::sweep;

int run_here(const RunOptions& o) {
  const SweepConfig config = load_sweep_config(o.config_path);
  set_threads(o.threads >= 0 ? o.threads : config.threads);
  ResultsFile results(o.output, config, [&] { return machine_description(config); });
  report_reopened(results, config, o.output);
  Progress progress(config, results.existing(), o.quiet);
  ChainRunner runner(config, [&](const std::string& key) { return results.has(key); },
                     [&](const nlohmann::json& rec) {
                       results.append(rec);
                       progress.report(rec);
                     });
  for (const Chain& chain : chains_of(config)) runner.run(chain);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  lorafgc::retain_freed_memory();
  CLI::App app{"Run a lorafgc sweep from a JSON config; results go one JSON line per point. Under mpirun, rank 0 "
               "hands out the points and writes the file."};
  app.require_subcommand(1);
  RunOptions options;
  std::string config_path;
  auto* run = app.add_subcommand("run", "run (or resume) a sweep");
  run->add_option("config", options.config_path, "sweep config (JSON)")->required();
  run->add_option("--output,-o", options.output, "results file (JSON Lines); an existing one is resumed")->required();
  run->add_flag("--quiet,-q", options.quiet, "no progress lines");
  run->add_option("--threads", options.threads,
                  "OpenMP and BLAS threads per process, in place of the config's (0: the default; under mpirun, the "
                  "CPUs this rank may run on)")
      ->check(CLI::NonNegativeNumber);
  auto* check = app.add_subcommand("check", "validate a config and print its number of points");
  check->add_option("config", config_path, "sweep config (JSON)")->required();
  return cli::run("lorafgc-sweep", app, argc, argv, [&] {
    if (check->parsed()) {
      const SweepConfig config = load_sweep_config(config_path);
      fmt::print("{}: {} points, config hash {}\n", config.name, config.point_count(), config.hash());
      return 0;
    }
    return launched_by_mpi() ? run_distributed(options) : run_here(options);
  });
}
