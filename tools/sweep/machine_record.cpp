#include "machine_record.hpp"

#include <lorafgc/core/machine.hpp>
#include <lorafgc/core/system_info.hpp>
#include <lorafgc/lora/cost_model.hpp>
#include <lorafgc/lora/kernels.hpp>
#include <lorafgc/lora/registry.hpp>

#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

#include <map>

namespace lorafgc::sweep {

namespace {

using namespace lorafgc::lora;
using json = nlohmann::json;

json rates_json(const MachineRates& r) {
  return {{"threads", r.threads},         {"gemm_flops_per_s", r.gemm_flops_per_s},
          {"exp_per_s", r.exp_per_s},     {"thin_gemm_flops_per_s", r.thin_gemm_flops_per_s},
          {"bytes_per_s", r.bytes_per_s}, {"seconds", r.seconds}};
}

// The key of an algorithm calibration in the header (tools/report/cost_model.py reads it).
std::string calibration_key(const std::string& spec, long long d, long long r, const std::string& mode,
                            const std::string& dtype) {
  return fmt::format("{}|d={}|r={}|{}|{}", spec, d, r, mode, dtype);
}

json machine_fields() {
  json out = json::object();
  for (const auto& f : describe_machine().fields()) out[f.key] = f.numeric ? json::parse(f.text) : json(f.text);
  out["kernel_target"] = lora::kernel_target();
  return out;
}

}  // namespace

json machine_description(const SweepConfig& c) {
  json out = machine_fields();
  for (const std::string& dtype : c.dtypes) {
    const int bytes = dtype == "float32" ? 4 : 8;
    const MachineRates rates = calibrate_machine(bytes);
    out["calibration"][dtype] = rates_json(rates);
    for (const std::string& spec : c.algorithms)
      for (long long d : c.widths)
        for (long long r : c.ranks)
          for (const std::string& mode : c.modes) {
            ProblemShape shape;
            shape.width = d;
            shape.rank = r;
            shape.adapted = {true, mode == "full", true};
            json& slot = out["algorithm_calibration"][calibration_key(spec, d, r, mode, dtype)];
            try {
              const AlgorithmCalibration a = calibrate_algorithm(spec, shape, bytes, rates);
              slot = {{"efficiency", a.efficiency},
                      {"seconds_per_call", a.seconds_per_call},
                      {"seconds_per_row", a.seconds_per_row},
                      {"seconds", a.seconds}};
            } catch (const std::exception& e) {  // the sweep's points report their own refusals
              slot = {{"error", e.what()}};
            }
          }
  }
  return out;
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) out.push_back(cpu);
  return out;
}

json process_description() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return {{"host", host},
          {"pid", static_cast<long long>(getpid())},
          {"cpus", allowed_cpus()},
          {"threads", {{"omp", omp_threads()}, {"blas", blas_threads()}}},
          {"machine", machine_fields()}};
}

std::string isolation_problem(const std::vector<json>& processes) {
  std::map<std::string, std::vector<std::size_t>> by_host;
  for (std::size_t rank = 0; rank < processes.size(); ++rank)
    by_host[processes[rank].at("host").get<std::string>()].push_back(rank);
  std::string problems;
  for (const auto& [host, ranks] : by_host) {
    std::map<int, std::size_t> owner;
    bool shared = false;  // one message per host
    for (std::size_t rank : ranks) {
      const json& p = processes[rank];
      const auto mine = p.at("cpus").get<std::vector<int>>();
      for (int cpu : mine) {
        if (const auto [it, fresh] = owner.emplace(cpu, rank); !fresh && !shared && (shared = true))
          problems += fmt::format("{}ranks {} and {} on {} may both run on CPU {} (bind each rank to its own cores: "
                                  "mpirun --bind-to core)",
                                  problems.empty() ? "" : "; ", it->second, rank, host, cpu);
      }
      const int threads = std::max(p.at("threads").at("omp").get<int>(), p.at("threads").at("blas").get<int>());
      if (threads > static_cast<int>(mine.size()))
        problems += fmt::format("{}rank {} on {} runs {} threads on {} CPU(s)", problems.empty() ? "" : "; ", rank,
                                host, threads, mine.size());
    }
  }
  return problems;
}

}  // namespace lorafgc::sweep
