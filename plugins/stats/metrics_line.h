// Lines of Firecracker's metrics file (each a JSON object of groups of
// numbers, nested at most a few levels) folded into running totals, without
// building a document: the line is scanned once, each number named by its
// dotted path ("net.rx_bytes_count", "block.read_agg.sum_us"). Delta counters
// are added up; absolute ones (api_server, latencies_us, utc_timestamp_ms,
// min_us/max_us of the *_agg groups) keep the latest value. The top-level
// "id" and "properties" are not metrics; strings, booleans, null and arrays
// are skipped. A line that is not one valid JSON object changes nothing.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stats {

using MetricTotals = std::map<std::string, double, std::less<>>;

// The running totals of one metrics file, flat: names back to back in one
// buffer and values in one array, in the order first seen. Firecracker
// writes the same groups in the same order on every line, only the numbers
// change: a line identical to the last parsed one but for its numbers is
// folded by comparing the text between them (memcmp) and reading the
// numbers, no name built; any other line is scanned in full and its i-th
// number checked against the i-th name before a lookup.
class MetricsFolder {
 public:
  static constexpr size_t kAbsent = static_cast<size_t>(-1);

  // Adds one line; false (and nothing changed) when it does not parse.
  bool Fold(std::string_view line);
  void Clear();

  size_t size() const { return values_.size(); }
  std::string_view name(size_t i) const;
  double value(size_t i) const { return values_[i]; }
  // The position of `name` (stable until Clear), or kAbsent.
  size_t Find(std::string_view name) const;
  // The total named `name`; 0 when no line had it.
  double Get(std::string_view name) const;
  MetricTotals Totals() const;

 private:
  size_t Add(std::string_view name);
  bool FoldLikeLast(std::string_view line);

  // A metric number of the last parsed line: its text, and where it adds up.
  struct Hole {
    size_t at, length;
    size_t slot;
    bool absolute;
  };

  std::string names_;
  std::vector<size_t> name_end_;  // names_[name_end_[i-1], name_end_[i]) is name i
  std::vector<double> values_;
  std::map<std::string, size_t, std::less<>> index_;  // for lines laid out otherwise
  std::string last_line_;                             // the last line scanned in full
  std::vector<Hole> holes_;
};

}  // namespace stats
