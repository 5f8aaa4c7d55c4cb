// Durations in config values: "500ms", "10s", "2m", "1h", "1h30m", or "0".
// A bare number is refused (is it seconds or milliseconds?).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace banger {

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);
// "10s", "1m30s", "250ms", "0s": the shortest exact spelling.
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace banger
