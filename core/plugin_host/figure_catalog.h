// FigureCatalog: what each VM figure is (counter or gauge, unit, help, and
// the capability that publishes it), as figures_publish declared it, for
// the metrics exposition to type it. In memory: a figure published before
// this agent started is typed from its capability's first publish on
// (untyped until then: a gauge). Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/status.h"

namespace banger::core {

struct FigureInfo {
  bool counter = false;
  std::string unit;
  std::string help;
  std::string capability;
};

class FigureCatalog {
 public:
  // Checks a figure against the naming rules (capability.h, banger_figure)
  // and records it; Invalid, saying why, when it breaks one or when the
  // name is already another kind or another capability's. A figure declared
  // as before (every tick after the first) costs a lookup, no allocation.
  Status Declare(std::string_view name, bool counter, std::string_view unit, std::string_view help,
                 std::string_view capability);
  std::optional<FigureInfo> Find(const std::string& name) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, FigureInfo, std::less<>> figures_;
};

}  // namespace banger::core
