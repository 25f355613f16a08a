#include "results_file.hpp"

#include <lorafgc/core/errors.hpp>

#include <fstream>

namespace lorafgc::sweep {

std::string point_key(const nlohmann::json& r) {
  return r.at("algorithm").get<std::string>() + "|" + r.at("mode").get<std::string>() + "|" +
         r.at("dtype").get<std::string>() + "|L=" + std::to_string(r.at("L").get<long long>()) +
         "|d=" + std::to_string(r.at("d").get<long long>()) + "|r=" + std::to_string(r.at("r").get<long long>()) +
         "|" + r.at("norm_axis").get<std::string>() + "=" + r.at("norm").dump();
}

ResultsFile::ResultsFile(const std::string& path, const SweepConfig& config, const nlohmann::json& machine) {
  bool fresh = true, ends_with_newline = true;
  {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::string line;
      bool first = true;
      while (std::getline(in, line)) {
        fresh = false;
        ends_with_newline = !in.eof();
        nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (first) {
          first = false;
          if (j.is_discarded() || j.value("type", "") != "header")
            throw InvalidArgument("output", "'" + path + "' exists and is not a lorafgc results file; not touching it");
          if (j.value("config_hash", "") != config.hash())
            throw InvalidArgument("output", "'" + path + "' holds results of a different config (hash " +
                                                j.value("config_hash", "?") + ", this config " + config.hash() +
                                                "); choose another output file");
          continue;
        }
        if (j.is_discarded() || j.value("type", "") != "point") {
          ++torn_;
          continue;
        }
        keys_.insert(point_key(j));
      }
    }
  }
  file_ = std::fopen(path.c_str(), "ab");
  if (!file_) throw InvalidArgument("output", "cannot open '" + path + "' for appending");
  if (!ends_with_newline) std::fputc('\n', file_);  // a kill mid-line: start the next record cleanly
  if (fresh) {
    nlohmann::json header = {{"type", "header"},      {"config_hash", config.hash()}, {"config", config.source},
                             {"machine", machine},    {"format", "lorafgc-sweep/1"}};
    append(header);
  }
}

ResultsFile::~ResultsFile() {
  if (file_) std::fclose(file_);
}

void ResultsFile::append(const nlohmann::json& record) {
  const std::string line = record.dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    throw std::runtime_error("writing a results record failed");
  if (record.value("type", "") == "point") keys_.insert(point_key(record));
}

}  // namespace lorafgc::sweep
