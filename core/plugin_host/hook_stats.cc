#include "core/plugin_host/hook_stats.h"

#include "core/base/clock.h"

#include <algorithm>
#include <chrono>

namespace banger::core {

void HookStats::Record(const std::string& hook, uint64_t ns, bool failed,
                       const std::string& error) {
  std::lock_guard lock(mu_);
  HookCounters& c = data_.hooks[hook];
  ++c.calls;
  c.total_ns += ns;
  c.max_ns = std::max(c.max_ns, ns);
  if (failed) {
    ++c.failures;
    data_.last_error = error;
    data_.last_error_hook = hook;
    data_.last_error_at_ms = UnixMillis();
  }
}

HookStatsSnapshot HookStats::Snapshot() const {
  std::lock_guard lock(mu_);
  return data_;
}

}  // namespace banger::core
