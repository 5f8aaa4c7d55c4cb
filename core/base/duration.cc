#include "core/base/duration.h"

#include <banger/capability.hpp>

namespace banger::core {

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  // One parser for the agent and its capabilities: the SDK's.
  auto ms = ParseDurationMs(text);
  if (!ms) return std::nullopt;
  return std::chrono::milliseconds(*ms);
}

}  // namespace banger::core
