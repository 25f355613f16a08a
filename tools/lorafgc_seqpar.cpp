// lorafgc-seqpar: sequence-parallel gradients under mpirun (docs/sequence-parallel.md).
// Every process generates the same instance from the seed and keeps its rows
// (shard_rows), so that the shards are those of one problem; a user with real
// data passes each process its own rows to sequence_parallel_gradients. Per
// algorithm, rank 0 prints (and with --json appends one line of) the median
// time over repetitions (the slowest process's), the time inside communication,
// the bytes each process sent and received, and with --check the largest
// relative difference from the same algorithm run on the whole problem by one
// process.
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/heap.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/core/machine.hpp>
#include <lorafgc/core/system_info.hpp>
#include <lorafgc/lora/error_metrics.hpp>
#include <lorafgc/lora/generator.hpp>
#include <lorafgc/lora/registry.hpp>
#include <lorafgc/lora/sequence_parallel.hpp>

#include "cli.hpp"
#include "seqpar/mpi_collectives.hpp"

#include <mpi.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace {

using namespace lorafgc;
using namespace lorafgc::lora;

struct Args {
  GeneratorConfig gen;
  std::string mode = "partial", dtype = "float64", json;
  std::vector<std::string> algorithms = {"exact", "poly-cheb:range_rows=0"};
  int threads = 1, repeat = 3;
  bool check = false;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double max_over_ranks(double x) {
  MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return x;
}

std::vector<double> gathered(double x, int size) {
  std::vector<double> all(static_cast<std::size_t>(size));
  MPI_Gather(&x, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  return all;
}

nlohmann::json machine_fields() {
  nlohmann::json m;
  for (const auto& f : describe_machine().fields()) m[f.key] = f.text;
  m["omp_threads"] = omp_threads();
  m["blas_threads"] = blas_threads();
  return m;
}

template <class T>
nlohmann::json measure(const Args& args, const std::string& spec, const Algorithm& algorithm, const Problem<T>& whole,
                       seqpar::MpiCollectives& comm) {
  const RowRange rows = shard_rows(whole.length(), comm.size(), comm.rank());
  const Problem<T> shard = rows_of(whole, rows);
  std::vector<double> times, comm_times;
  Gradients<T> g;
  for (int i = 0; i < args.repeat; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    comm.reset();
    const double start = MPI_Wtime();
    g = sequence_parallel_gradients(algorithm, shard, comm);
    times.push_back(max_over_ranks(MPI_Wtime() - start));
    comm_times.push_back(max_over_ranks(comm.traffic().seconds));
  }
  const seqpar::Traffic t = comm.traffic();  // the same every repetition
  nlohmann::json r = {{"type", "seqpar"},
                      {"spec", spec},
                      {"algorithm", algorithm.spec()},
                      {"processes", comm.size()},
                      {"L", whole.length()},
                      {"d", whole.width()},
                      {"r", whole.rank()},
                      {"batch", whole.batch()},
                      {"mode", args.mode},
                      {"dtype", dtype_name<T>()},
                      {"seed", args.gen.seed},
                      {"T_generator", args.gen.score_bound},
                      {"threads_per_process", omp_threads()},
                      {"repeat", args.repeat},
                      {"median_s", median(times)},
                      {"comm_median_s", median(comm_times)},
                      {"bytes_sent", gathered(t.bytes_sent, comm.size())},
                      {"bytes_received", gathered(t.bytes_received, comm.size())},
                      {"collective_calls", t.calls},
                      {"info", g.info},
                      {"loss", g.loss}};
  if (args.check && comm.rank() == 0) {
    // Rank 0 alone: a refusal here (one process's memory for the whole problem)
    // is recorded, not thrown, so that the other processes are not left waiting.
    try {
      const Gradients<T> one = algorithm.compute(whole);
      const ErrorMetrics e = compare_gradients(g, one);
      r["check_max_rel"] = e.max_rel;
      r["check_loss_rel"] = e.loss_abs / std::max(std::abs(one.loss), 1e-300);
    } catch (const std::exception& e) {
      r["check_error"] = e.what();
    }
  }
  return r;
}

void report(const Args& args, const nlohmann::json& r) {
  const auto most = [](const nlohmann::json& v) { return *std::max_element(v.begin(), v.end()); };
  fmt::print("{:<26} P={:<3} L={:<8} {:>10.4f} s  comm {:>9.4f} s  sent {:>12.0f} B  received {:>12.0f} B{}\n",
             r["spec"].get<std::string>(), r["processes"].get<int>(), r["L"].get<long long>(),
             r["median_s"].get<double>(), r["comm_median_s"].get<double>(), most(r["bytes_sent"]).get<double>(),
             most(r["bytes_received"]).get<double>(),
             r.contains("check_max_rel")   ? fmt::format("  max_rel vs one process {:.2e}", r["check_max_rel"].get<double>())
             : r.contains("check_error") ? "  check refused: " + r["check_error"].get<std::string>()
                                         : "");
  if (args.json.empty()) return;
  std::ofstream out(args.json, std::ios::app);  // appended: earlier records are never rewritten
  out << r.dump() << "\n";
  out.flush();
  // Rank 0 alone (the file was appendable at the start): not an agreed refusal, so the job is aborted.
  if (!out) throw std::runtime_error("--json: cannot append to '" + args.json + "'");
}

// Rank 0 opens --json for appending before anything runs and tells every process.
void require_appendable(const std::string& path, int rank) {
  int ok = 1;
  if (rank == 0 && !path.empty()) ok = static_cast<bool>(std::ofstream(path, std::ios::app));
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!ok) throw InvalidArgument("--json", "cannot append to '" + path + "'");
}

template <class T>
int run(const Args& args, seqpar::MpiCollectives& comm) {
  std::vector<std::unique_ptr<Algorithm>> algorithms;
  for (const auto& spec : args.algorithms) algorithms.push_back(make_algorithm(spec));
  require_appendable(args.json, comm.rank());
  const Problem<T> whole = generate<T>(args.gen);
  if (comm.rank() == 0)
    fmt::print("instance: L={} d={} r={} mode={} dtype={} seed={}  processes: {}  threads per process: {}\n"
               "cpu: {} ({})  blas: {}  OPENBLAS_CORETYPE={}\n",
               args.gen.length, args.gen.width, args.gen.rank, args.mode, dtype_name<T>(), args.gen.seed,
               comm.size(), omp_threads(), cpu_model(), vector_isa(), blas_config(), openblas_coretype());
  for (std::size_t a = 0; a < algorithms.size(); ++a) {
    nlohmann::json r = measure(args, args.algorithms[a], *algorithms[a], whole, comm);
    if (comm.rank() == 0) {
      r["machine"] = machine_fields();
      report(args, r);
    }
  }
  return 0;
}

// Refusals made from the same arguments and the same agreed layout reach every
// process (InvalidArgument): each exits 2, rank 0 says why. Anything else may
// have happened on one process alone: it aborts the job rather than leave the
// others waiting in a collective.
int guarded(int rank, const std::function<int()>& body) {
  try {
    return body();
  } catch (const InvalidArgument& e) {
    if (rank == 0) fmt::print(stderr, "lorafgc-seqpar: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "lorafgc-seqpar: error on rank {}: {}\n", rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  lorafgc::retain_freed_memory();
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  seqpar::MpiCollectives comm;
  Args args;
  args.gen.length = 4096;
  args.gen.width = 8;
  args.gen.rank = 8;
  CLI::App app{"Sequence-parallel LoRA attention gradients: run under mpirun -n P; every process holds L / P rows."};
  app.add_option("--L", args.gen.length, "sequence length")->capture_default_str();
  app.add_option("--d", args.gen.width, "head width")->capture_default_str();
  app.add_option("--r", args.gen.rank, "LoRA rank")->capture_default_str();
  app.add_option("--batch", args.gen.batch, "sequences in the batch")->capture_default_str();
  app.add_option("--T", args.gen.score_bound, "target score bound T of the generated instance (0: gamma)")
      ->capture_default_str();
  app.add_option("--seed", args.gen.seed, "generator seed")->capture_default_str();
  app.add_option("--mode", args.mode, "partial (Q, V) or full (Q, K, V)")
      ->check(CLI::IsMember({"partial", "full"}))->capture_default_str();
  app.add_option("--dtype", args.dtype, "float32 or float64")
      ->check(CLI::IsMember({"float32", "float64"}))->capture_default_str();
  app.add_option("--algorithms", args.algorithms, "algorithm specs with a sequence-parallel form")
      ->capture_default_str();
  app.add_option("--threads", args.threads, "OpenMP/BLAS threads per process")->capture_default_str();
  app.add_option("--repeat", args.repeat, "timed repetitions (median reported)")->capture_default_str();
  app.add_flag("--check", args.check, "compare with one process on the whole problem (rank 0)");
  app.add_option("--json", args.json, "append one JSON line per algorithm (rank 0)");
  int status = 0;
  if (provided < MPI_THREAD_FUNNELED) {
    if (comm.rank() == 0) fmt::print(stderr, "lorafgc-seqpar: error: MPI does not provide MPI_THREAD_FUNNELED\n");
    status = 2;
  } else {
    status = cli::run("lorafgc-seqpar", app, argc, argv, [&] {
      return guarded(comm.rank(), [&] {
        args.gen.adaptation = parse_adaptation(args.mode);
        require_count("--repeat", args.repeat, Quantity::repetitions);
        if (args.threads < 1) throw InvalidArgument("--threads", "must be >= 1");
        set_threads(args.threads);
        if (args.gen.length < comm.size())
          throw InvalidArgument("--L", std::to_string(comm.size()) + " processes for a sequence of L = " +
                                           std::to_string(args.gen.length) +
                                           " rows: every process needs at least one row (P <= L)");
        return args.dtype == "float32" ? run<float>(args, comm) : run<double>(args, comm);
      });
    });
  }
  MPI_Finalize();
  return status;
}
