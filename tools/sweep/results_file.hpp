#pragma once
// The raw results of a sweep: JSON Lines, a header line naming the config (and
// its hash), then one record per finished point, each written and flushed as
// the point finishes. Reopening the file resumes: points already present are
// skipped, a line torn by a kill is set aside, and a file written by a different
// config is refused without touching it.
#include "sweep_config.hpp"

#include <cstdio>
#include <set>

namespace lorafgc::sweep {

std::string point_key(const nlohmann::json& record);

class ResultsFile {
 public:
  ResultsFile(const std::string& path, const SweepConfig& config, const nlohmann::json& machine);
  ~ResultsFile();
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  bool has(const std::string& key) const { return keys_.count(key) != 0; }
  std::size_t existing() const { return keys_.size(); }
  std::size_t torn_lines() const { return torn_; }
  void append(const nlohmann::json& record);

 private:
  std::FILE* file_ = nullptr;
  std::set<std::string> keys_;
  std::size_t torn_ = 0;
};

}  // namespace lorafgc::sweep
