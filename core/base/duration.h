// Durations in config values: "500ms", "10s", "2m", "1h", "1h30m", or "0".
// A bare number is refused (is it seconds or milliseconds?).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace banger::core {

// (The SDK's parser, which capabilities use too; it also has the formatter,
// banger::FormatDurationMs.)
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace banger::core
