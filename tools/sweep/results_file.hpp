#pragma once
// The raw results of a sweep: JSON Lines, a header line naming the config (and
// its hash), then one record per finished point, each written as the point
// finishes. One writer at a time: the file is held under an advisory lock
// (flock), and a second lorafgc-sweep on the same file is refused. Reopening
// the file resumes: points already present are skipped; a line torn by a kill
// (the last one, or a header cut short) is moved to `<file>.torn` and cut from
// the file; a file that is not a results file, or one written by a different
// config, is refused without being touched. "session" records (a distributed
// run's ranks) are kept and skipped.
#include "sweep_config.hpp"

#include <functional>
#include <set>
#include <string>

namespace lorafgc::sweep {

std::string point_key(const nlohmann::json& record);

class ResultsFile {
 public:
  // InvalidArgument("output") naming the path and the OS error where there is one.
  // `machine` is called once the file is locked, and only for a new file: its
  // header (a resumed file keeps the one it began with).
  ResultsFile(const std::string& path, const SweepConfig& config, const std::function<nlohmann::json()>& machine);
  ~ResultsFile();
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  bool has(const std::string& key) const { return keys_.count(key) != 0; }
  std::size_t existing() const { return keys_.size(); }
  std::size_t torn_lines() const { return torn_; }
  const std::string& side_file() const { return side_; }
  void append(const nlohmann::json& record);

 private:
  void open_locked();
  void read_existing(const SweepConfig& config);
  void set_aside(const std::string& text);
  void write_all(const std::string& text);

  std::string path_, side_;
  int fd_ = -1;
  std::set<std::string> keys_;
  std::size_t torn_ = 0;
  bool fresh_ = true;
};

// stderr lines for a file that was not fresh: torn lines set aside, points
// already there.
void report_reopened(const ResultsFile& results, const SweepConfig& config, const std::string& path);

}  // namespace lorafgc::sweep
