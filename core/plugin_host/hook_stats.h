// HookStats: per-hook counters of one capability (calls, failures, total and
// max latency) and its last error. Thread-safe: hooks of one capability run
// on several threads.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace banger::core {

struct HookCounters {
  uint64_t calls = 0;
  uint64_t failures = 0;
  uint64_t total_ns = 0;
  uint64_t max_ns = 0;
};

struct HookStatsSnapshot {
  std::map<std::string, HookCounters> hooks;  // by hook name
  std::string last_error;                     // "" if none yet
  std::string last_error_hook;
  int64_t last_error_at_ms = 0;
};

class HookStats {
 public:
  // Records one call of `hook` that took `ns`; `error` is empty on success.
  void Record(const std::string& hook, uint64_t ns, bool failed, const std::string& error);
  HookStatsSnapshot Snapshot() const;

 private:
  mutable std::mutex mu_;
  HookStatsSnapshot data_;
};

}  // namespace banger::core
