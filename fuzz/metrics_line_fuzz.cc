// Firecracker's metrics file, line by line, as the stats capability folds
// it: any bytes, never a crash; a line that does not parse changes nothing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plugins/stats/metrics_line.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  stats::MetricsFolder folder;
  while (!all.empty()) {
    size_t nl = all.find('\n');
    std::string_view line = all.substr(0, nl);
    size_t before = folder.size();
    auto totals_before = folder.Totals();
    if (!folder.Fold(line) && (folder.size() != before || folder.Totals() != totals_before)) {
      __builtin_trap();
    }
    all = nl == std::string_view::npos ? std::string_view() : all.substr(nl + 1);
  }
  return 0;
}
