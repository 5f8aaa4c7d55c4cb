// What a benchmark measured, for the tools that read it: with --json=PATH a
// benchmark writes its figures there as one JSON object, {"bench": NAME,
// "figures": {...}} (tools/dev/bench-check.sh gates the ratios measured
// within one run; tools/dev/perf-doc.sh renders docs/PERFORMANCE.md from
// them). The human table on stdout stays as it was.
#pragma once

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace banger::bench {

class BenchReport {
 public:
  explicit BenchReport(std::string name) : name_(std::move(name)) {}

  // Takes --json=PATH; false for any other argument.
  bool TakeArg(const std::string& arg) {
    if (arg.rfind("--json=", 0) != 0) return false;
    path_ = arg.substr(7);
    return true;
  }
  nlohmann::json& figures() { return figures_; }
  // Writes the file when --json was given; false (said on stderr) when it
  // cannot be written.
  bool Write() const {
    if (path_.empty()) return true;
    std::ofstream out(path_);
    out << nlohmann::json{{"bench", name_}, {"figures", figures_}}.dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "%s: cannot write %s\n", name_.c_str(), path_.c_str());
      return false;
    }
    return true;
  }

 private:
  std::string name_, path_;
  nlohmann::json figures_ = nlohmann::json::object();
};

}  // namespace banger::bench
