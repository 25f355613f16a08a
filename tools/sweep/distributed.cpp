#include "distributed.hpp"

#include "chain_runner.hpp"
#include "machine_record.hpp"
#include "progress.hpp"
#include "results_file.hpp"

#include <lorafgc/core/system_info.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <ctime>

#ifdef LORAFGC_WITH_MPI
#include <mpi.h>

#include <atomic>
#include <limits>
#include <stdexcept>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#endif

namespace lorafgc::sweep {

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

#ifndef LORAFGC_WITH_MPI

int run_distributed(const RunOptions&) {
  fmt::print(stderr,
             "lorafgc-sweep: error: started by mpirun, but this lorafgc-sweep was built without MPI (install "
             "libopenmpi-dev, or run ./run.sh, and rebuild); every rank would run the whole sweep\n");
  return 2;
}

#else

namespace {

using json = nlohmann::json;

enum Tag : int { kReady = 1, kWork, kRecord, kFailed, kText };

// Every wait polls: Open MPI's blocking calls spin on their core.
void wait(MPI_Request& request) {
  for (int done = 0;;) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

MPI_Status probe(int source, int tag) {
  MPI_Status status;
  for (int found = 0;;) {
    MPI_Iprobe(source, tag, MPI_COMM_WORLD, &found, &status);
    if (found) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// MPI counts are ints.
void check_size(std::size_t size) {
  if (size > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw std::length_error(fmt::format("a message of {} bytes is over MPI's 2 GiB count limit", size));
}

void send_text(const std::string& text, int dest, int tag) {
  check_size(text.size());
  MPI_Request request;
  MPI_Isend(text.data(), static_cast<int>(text.size()), MPI_CHAR, dest, tag, MPI_COMM_WORLD, &request);
  wait(request);
}

std::string receive_text(const MPI_Status& status) {
  int size = 0;
  MPI_Get_count(&status, MPI_CHAR, &size);
  std::string text(static_cast<std::size_t>(size), '\0');
  MPI_Recv(text.data(), size, MPI_CHAR, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return text;
}

std::string broadcast_text(std::string text, int rank) {
  check_size(text.size());
  long long size = static_cast<long long>(text.size());
  MPI_Request request;
  MPI_Ibcast(&size, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD, &request);
  wait(request);
  if (rank != 0) text.assign(static_cast<std::size_t>(size), '\0');
  MPI_Ibcast(text.data(), static_cast<int>(size), MPI_CHAR, 0, MPI_COMM_WORLD, &request);
  wait(request);
  return text;
}

// Rank 0 gets every rank's text, in rank order; the others get {}.
std::vector<std::string> gather_text(const std::string& mine, int rank, int size) {
  if (rank != 0) {
    send_text(mine, 0, kText);
    return {};
  }
  std::vector<std::string> all{mine};
  for (int source = 1; source < size; ++source) all.push_back(receive_text(probe(source, kText)));
  return all;
}

// A verdict every rank learns: "" to go on; otherwise rank 0 prints it and
// every rank returns false (exit status 2).
bool agree(const std::string& verdict_on_rank0, int rank) {
  const std::string verdict = broadcast_text(verdict_on_rank0, rank);
  if (verdict.empty()) return true;
  if (rank == 0) fmt::print(stderr, "lorafgc-sweep: error: {}\n", verdict);
  return false;
}

// Rank 0: every rank read the same config, and there is work for every rank.
std::string check_configs(const std::vector<std::string>& reports, const SweepConfig* config, int size) {
  std::string problems;
  for (std::size_t r = 0; r < reports.size(); ++r)
    if (reports[r].rfind("error:", 0) == 0)
      problems += fmt::format("{}rank {} cannot use the config: {}", problems.empty() ? "" : "; ", r,
                              reports[r].substr(6));
  if (!problems.empty()) return problems;
  for (std::size_t r = 1; r < reports.size(); ++r)
    if (reports[r] != reports[0])
      return fmt::format("the config differs between ranks: rank 0 read {}, rank {} read {} (every rank must read "
                         "the same file)",
                         reports[0].substr(5), r, reports[r].substr(5));
  if (static_cast<std::size_t>(size) > config->point_count())
    return fmt::format("mpirun started {} ranks for a config of {} points: use at most {}", size,
                       config->point_count(), config->point_count());
  return "";
}

std::string join_keys(const ResultsFile& results, const SweepConfig& config) {
  std::string text;
  for (const Chain& chain : chains_of(config))
    for (const std::string& key : ChainRunner::point_keys(config, chain))
      if (results.has(key)) text += key + '\n';
  return text;
}

std::set<std::string> split_keys(const std::string& text) {
  std::set<std::string> keys;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t stop = text.find('\n', start);
    keys.insert(text.substr(start, stop - start));
    start = stop + 1;
  }
  return keys;
}

// 0 (the default) means OpenMP's default for one process, which under mpirun
// is every CPU of the node in every rank; here it is the rank's CPUs, unless
// OMP_NUM_THREADS says otherwise (then 0: keep it).
int threads_for(const RunOptions& o, const SweepConfig& c) {
  const int threads = o.threads >= 0 ? o.threads : c.threads;
  if (threads > 0 || std::getenv("OMP_NUM_THREADS")) return threads;
  return static_cast<int>(std::max<std::size_t>(1, allowed_cpus().size()));
}

// The chains with a point still to measure, last first: a grid's axes (d,
// full after partial, the norm) grow towards their ends, and so do the
// chains' times (default.json: 0.9 s to 23.5 s); handing out the longest
// first keeps one from running alone at the end (2 ranks: 0.58 -> 0.53 of
// one process's time).
std::vector<Chain> remaining_chains(const SweepConfig& c, const std::set<std::string>& done) {
  std::vector<Chain> out;
  const std::vector<Chain> all = chains_of(c);
  for (const Chain& chain : std::vector<Chain>(all.rbegin(), all.rend()))
    for (const std::string& key : ChainRunner::point_keys(c, chain))
      if (!done.count(key)) {
        out.push_back(chain);
        break;
      }
  return out;
}

// A rank other than 0: ask for a chain, run it (each record sent as it
// finishes), ask again; -1 ends.
void work(const SweepConfig& config, const std::vector<Chain>& chains, const std::set<std::string>& done, int rank) {
  ChainRunner runner(config, [&](const std::string& key) { return done.count(key) != 0; }, [&](json rec) {
    rec["rank"] = rank;
    send_text(rec.dump(), 0, kRecord);
  });
  for (;;) {
    send_text("", 0, kReady);
    int chain = -1;
    MPI_Request request;
    MPI_Irecv(&chain, 1, MPI_INT, 0, kWork, MPI_COMM_WORLD, &request);
    wait(request);
    if (chain < 0) return;
    try {
      runner.run(chains[static_cast<std::size_t>(chain)]);
    } catch (const std::exception& e) {
      send_text(e.what(), 0, kFailed);
      probe(0, kWork);  // rank 0 aborts the job
    }
  }
}

[[noreturn]] void abort_job(const std::string& what, const std::string& output) {
  fmt::print(stderr, "lorafgc-sweep: error: {}; every point recorded so far is kept in {}\n", what, output);
  MPI_Abort(MPI_COMM_WORLD, 2);
  std::exit(2);
}

// Rank 0's MPI thread: answer requests for chains (take() -> index, -1 when
// none is left) and keep the records that arrive, until every other rank has
// been told to stop and rank 0's own worker is done. A failure anywhere throws.
template <class Take, class Keep>
void serve(Take take, Keep keep, const std::atomic<bool>& local_done, const std::string& local_error, int size) {
  for (int busy = size - 1; busy > 0 || !local_done;) {
    if (local_done && !local_error.empty()) throw std::runtime_error("rank 0 failed: " + local_error);
    int found = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &found, &status);
    if (!found) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    const std::string text = receive_text(status);
    if (status.MPI_TAG == kReady) {
      const int chain = take();
      MPI_Request request;
      MPI_Isend(&chain, 1, MPI_INT, status.MPI_SOURCE, kWork, MPI_COMM_WORLD, &request);
      wait(request);
      busy -= chain < 0;
    } else if (status.MPI_TAG == kRecord) {
      keep(json::parse(text));
    } else if (status.MPI_TAG == kFailed) {
      throw std::runtime_error(fmt::format("rank {} failed: {}", status.MPI_SOURCE, text));
    }
  }
}

// Rank 0: its MPI thread hands out chains and appends the records; a second
// thread measures chains as any other rank does.
void coordinate(const SweepConfig& config, const std::vector<Chain>& chains, const std::set<std::string>& done,
                ResultsFile& results, Progress& progress, int size, int threads, const std::string& output) {
  std::mutex lock;  // the next chain, the results file and the progress lines
  std::size_t next = 0;
  const auto take = [&]() -> int {
    std::lock_guard<std::mutex> hold(lock);
    return next < chains.size() ? static_cast<int>(next++) : -1;
  };
  const auto keep = [&](const json& rec) {
    std::lock_guard<std::mutex> hold(lock);
    // Each chain goes to one rank once, so this guards against a bug, not a race.
    if (results.has(point_key(rec))) return;
    results.append(rec);
    progress.report(rec);
  };
  std::atomic<bool> local_done{false};
  std::string local_error;
  std::thread local([&] {
    try {
      set_threads(threads);
      ChainRunner runner(config, [&](const std::string& key) { return done.count(key) != 0; }, [&](json rec) {
        rec["rank"] = 0;
        keep(rec);
      });
      for (int c = take(); c >= 0; c = take()) runner.run(chains[static_cast<std::size_t>(c)]);
    } catch (const std::exception& e) {
      local_error = e.what();
    }
    local_done = true;
  });
  try {
    serve(take, keep, local_done, local_error, size);
  } catch (const std::exception& e) {
    local.detach();
    abort_job(e.what(), output);
  }
  local.join();
}

struct MpiSession {
  MpiSession() {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    if (provided < MPI_THREAD_FUNNELED) {  // rank 0's worker thread needs it
      fmt::print(stderr, "lorafgc-sweep: error: this MPI does not support a second thread (MPI_THREAD_FUNNELED)\n");
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
  }
  ~MpiSession() {
    MPI_Request request;  // leave together, each rank sleeping rather than spinning
    MPI_Ibarrier(MPI_COMM_WORLD, &request);
    wait(request);
    MPI_Finalize();
  }
};

// Every rank reads the config and sets its threads; rank 0 refuses what does
// not agree. Returns the config, or null when the launch was refused.
std::unique_ptr<SweepConfig> agreed_config(const RunOptions& o, int rank, int size, int& threads) {
  std::unique_ptr<SweepConfig> config;
  std::string report;
  try {
    config = std::make_unique<SweepConfig>(load_sweep_config(o.config_path));
    report = "hash:" + config->hash();
  } catch (const std::exception& e) {
    report = std::string("error:") + e.what();
  }
  const std::vector<std::string> reports = gather_text(report, rank, size);
  if (!agree(rank == 0 ? check_configs(reports, config.get(), size) : "", rank)) return nullptr;
  threads = threads_for(o, *config);
  std::string problem;
  try {
    set_threads(threads);
  } catch (const std::exception& e) {
    problem = fmt::format("rank {} cannot run {} threads: {}", rank, threads, e.what());
  }
  std::string problems;
  for (const std::string& p : gather_text(problem, rank, size))
    problems += (problems.empty() || p.empty() ? "" : "; ") + p;
  return agree(problems, rank) ? std::move(config) : nullptr;
}

// Rank 0: the ranks' descriptions and how isolated their timings are, as a
// session record; warnings for what disturbs them or leaves ranks idle.
json session_record(const std::vector<std::string>& processes, std::size_t chains) {
  std::vector<json> described;
  for (const std::string& p : processes) described.push_back(json::parse(p));
  const std::string isolation = isolation_problem(described);
  if (!isolation.empty()) fmt::print(stderr, "lorafgc-sweep: warning: {}\n", isolation);
  if (processes.size() > chains)
    fmt::print(stderr, "lorafgc-sweep: warning: {} ranks for {} chains (one d, r, mode, dtype and norm each) left to "
               "run: {} rank(s) will wait idle\n", processes.size(), chains, processes.size() - chains);
  return {{"type", "session"},
          {"launcher", "mpi"},
          {"ranks", described},
          {"timestamp", static_cast<long long>(std::time(nullptr))},
          {"isolation", isolation.empty() ? "each rank runs on CPUs of its own, with at most one measuring thread "
                                            "per CPU (rank 0's MPI thread shares its CPU, waking every 1 ms)"
                                          : "timings may disturb each other: " + isolation}};
}

int run_ranks(const RunOptions& o, int rank, int size) {
  int threads = 0;
  const std::unique_ptr<SweepConfig> config = agreed_config(o, rank, size, threads);
  if (!config) return 2;
  // Rank 0 opens (or resumes) the results file; the others learn what is in it.
  std::unique_ptr<ResultsFile> results;
  std::string verdict;
  try {
    if (rank == 0)
      results = std::make_unique<ResultsFile>(o.output, *config, [&] { return machine_description(*config); });
  } catch (const std::exception& e) {
    verdict = e.what();
  }
  if (!agree(verdict, rank)) return 2;
  const std::set<std::string> done = split_keys(broadcast_text(rank == 0 ? join_keys(*results, *config) : "", rank));
  const std::vector<std::string> processes = gather_text(process_description().dump(), rank, size);
  const std::vector<Chain> chains = remaining_chains(*config, done);
  if (rank != 0) {
    work(*config, chains, done, rank);
    return 0;
  }
  results->append(session_record(processes, chains.size()));
  report_reopened(*results, *config, o.output);
  Progress progress(*config, results->existing(), o.quiet);
  coordinate(*config, chains, done, *results, progress, size, threads, o.output);
  return 0;
}

}  // namespace

// An exception that escapes one rank would leave the others waiting for it:
// it ends the job.
int run_distributed(const RunOptions& o) {
  const MpiSession session;
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  try {
    return run_ranks(o, rank, size);
  } catch (const std::bad_alloc&) {
    abort_job(fmt::format("rank {} ran out of memory", rank), o.output);
  } catch (const std::exception& e) {
    abort_job(fmt::format("rank {}: {}", rank, e.what()), o.output);
  }
}

#endif

}  // namespace lorafgc::sweep
