#pragma once
// What a results file records about the machines that measured it: the
// header's description (the machine, its cost-model rates and every
// algorithm's calibration, measured once per file), and per process of a
// distributed sweep, where it ran (host, pid, the CPUs it may run on, threads).
#include "sweep_config.hpp"

#include <string>
#include <vector>

namespace lorafgc::sweep {

nlohmann::json machine_description(const SweepConfig& c);

// This process: host, pid, allowed CPUs (sched_getaffinity), threads, and the
// machine's fields (CPU, vector width, BLAS kernels).
nlohmann::json process_description();

// The CPUs this process may run on.
std::vector<int> allowed_cpus();

// How the processes (process_description()s, one per rank) sharing a host are
// kept from disturbing each other's timings, in words, and "" when nothing
// does (warning: CPUs shared between ranks, or more threads than CPUs).
std::string isolation_problem(const std::vector<nlohmann::json>& processes);

}  // namespace lorafgc::sweep
