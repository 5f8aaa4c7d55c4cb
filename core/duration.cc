#include "core/duration.h"

#include <banger/capability.hpp>

namespace banger {

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  // One parser for the agent and its capabilities: the SDK's.
  auto ms = ParseDurationMs(text);
  if (!ms) return std::nullopt;
  return std::chrono::milliseconds(*ms);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  auto take = [&](int64_t unit, const char* suffix) {
    if (ms >= unit) {
      out += std::to_string(ms / unit) + suffix;
      ms %= unit;
    }
  };
  take(3'600'000, "h");
  take(60'000, "m");
  take(1000, "s");
  take(1, "ms");
  return out;
}

}  // namespace banger
