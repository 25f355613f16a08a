#include "results_file.hpp"

#include <lorafgc/core/errors.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

namespace lorafgc::sweep {

namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& what) { throw InvalidArgument("output", what); }

std::string os_error() { return std::strerror(errno); }

json parse_line(const std::string& line) { return json::parse(line, nullptr, /*allow_exceptions=*/false); }

bool is_point(const json& j) { return j.is_object() && j.value("type", "") == "point"; }

// A header killed mid-write: the start of what the header line always starts with.
bool is_torn_header(const std::string& tail) { return tail.rfind("{\"config\":", 0) == 0; }

}  // namespace

std::string point_key(const json& r) {
  return r.at("algorithm").get<std::string>() + "|" + r.at("mode").get<std::string>() + "|" +
         r.at("dtype").get<std::string>() + "|L=" + std::to_string(r.at("L").get<long long>()) +
         "|d=" + std::to_string(r.at("d").get<long long>()) + "|r=" + std::to_string(r.at("r").get<long long>()) +
         "|" + r.at("norm_axis").get<std::string>() + "=" + r.at("norm").dump();
}

ResultsFile::ResultsFile(const std::string& path, const SweepConfig& config, const std::function<json()>& machine)
    : path_(path), side_(path + ".torn") {
  open_locked();
  read_existing(config);
  if (fresh_)
    append({{"type", "header"}, {"config_hash", config.hash()}, {"config", config.source}, {"machine", machine()},
            {"format", "lorafgc-sweep/1"}});
}

ResultsFile::~ResultsFile() {
  if (fd_ >= 0) close(fd_);  // releases the lock
}

void ResultsFile::open_locked() {
  fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot open '" + path_ + "': " + os_error());
  struct stat info {};
  if (fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode))
    fail("'" + path_ + "' is not a regular file (a results file must be one); not touching it");
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0)
    fail(errno == EWOULDBLOCK ? "'" + path_ + "' is locked by another lorafgc-sweep writing to it; wait for it to "
                                    "finish or choose another output file"
                              : "cannot lock '" + path_ + "': " + os_error());
}

void ResultsFile::read_existing(const SweepConfig& config) {
  std::string text;
  std::vector<char> chunk(1 << 16);
  for (off_t at = 0;;) {
    const ssize_t n = pread(fd_, chunk.data(), chunk.size(), at);
    if (n < 0) fail("cannot read '" + path_ + "': " + os_error());
    if (n == 0) break;
    text.append(chunk.data(), std::size_t(n));
    at += n;
  }
  const std::size_t end = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
  const std::string tail = text.substr(end);  // no newline: a write cut short
  if (end == 0 && !tail.empty() && !is_torn_header(tail))
    fail("'" + path_ + "' exists and is not a lorafgc results file; not touching it");
  std::size_t start = 0;
  for (bool first = true; start < end; first = false) {
    const std::size_t stop = text.find('\n', start);
    const std::string line = text.substr(start, stop - start);
    start = stop + 1;
    const json j = parse_line(line);
    if (first) {
      if (!j.is_object() || j.value("type", "") != "header")
        fail("'" + path_ + "' exists and is not a lorafgc results file; not touching it");
      if (j.value("config_hash", "") != config.hash())
        fail("'" + path_ + "' holds results of a different config (hash " + j.value("config_hash", "?") +
             ", this config " + config.hash() + "); choose another output file");
      fresh_ = false;
    } else if (is_point(j)) {
      keys_.insert(point_key(j));
    } else if (j.is_object() && j.value("type", "") == "session") {
      // a distributed run's ranks (sweep/distributed.hpp)
    } else {
      ++torn_;  // a line torn by an older writer that then appended after it: reported, left in place
    }
  }
  if (!tail.empty()) {
    set_aside(tail);
    if (ftruncate(fd_, off_t(end)) != 0) fail("cannot cut the torn last line of '" + path_ + "': " + os_error());
  }
}

void ResultsFile::set_aside(const std::string& text) {
  ++torn_;
  std::ofstream side(side_, std::ios::app | std::ios::binary);
  side << text << '\n';
  side.flush();
  if (!side) fail("cannot set the torn line aside in '" + side_ + "': " + os_error());
}

void ResultsFile::write_all(const std::string& text) {
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = write(fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("writing a record to '" + path_ + "' failed: " + os_error());
    done += std::size_t(n);
  }
}

void ResultsFile::append(const json& record) {
  write_all(record.dump() + "\n");
  if (is_point(record)) keys_.insert(point_key(record));
}

void report_reopened(const ResultsFile& results, const SweepConfig& config, const std::string& path) {
  if (results.torn_lines())
    fmt::print(stderr, "lorafgc-sweep: {} torn line(s) in {} (cut from the end into {} where last)\n",
               results.torn_lines(), path, results.side_file());
  if (results.existing())
    fmt::print(stderr, "lorafgc-sweep: resuming, {} of {} points already in {}\n", results.existing(),
               config.point_count(), path);
}

}  // namespace lorafgc::sweep
