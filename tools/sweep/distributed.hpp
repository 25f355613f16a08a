#pragma once
// A sweep under mpirun: `mpirun -n P lorafgc-sweep run CONFIG -o FILE`.
//
// Rank 0 hands out chains (chain_runner.hpp) one at a time to whichever rank
// asks next, so a rank that drew long points is not waited for, and is the one
// process that writes FILE: every record is appended as it arrives, so a kill
// of any rank loses at most the points in flight, which the next run (under
// mpirun or not) measures. Rank 0 also measures, on a second thread; its MPI
// thread only sleeps between messages (every wait polls, 1 ms apart: Open
// MPI's blocking calls would spin on a core that another rank times on).
//
// Before anything runs every rank reads CONFIG and rank 0 refuses, naming the
// problem and with every rank exiting non-zero, a config a rank cannot read,
// configs that differ between ranks, more ranks than points, and a results
// file it cannot open; nothing already recorded is touched. Each run appends
// a "session" record: every rank's host, pid, CPUs and threads, and whether
// ranks sharing a host share CPUs (timings disturb each other: a warning).
#include <string>

namespace lorafgc::sweep {

struct RunOptions {
  std::string config_path, output;
  bool quiet = false;
  int threads = -1;  // -1: the config's; 0: the default (under mpirun: this rank's CPUs)
};

// True when this process was started by an MPI launcher (mpirun, srun).
bool launched_by_mpi();
// Exit status (0, or 2 after rank 0 printed the error).
int run_distributed(const RunOptions& o);

}  // namespace lorafgc::sweep
