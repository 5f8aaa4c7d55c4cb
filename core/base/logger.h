// Logger: the agent's line-oriented log on stderr (journald picks it up under
// systemd). One line per event: "<utc time> <level> <source>: <text>".
// Thread-safe; a line is written with one write() so lines never interleave.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <string_view>

namespace banger::core {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug" | "info" | "warn" | "error"; nullopt for anything else.
std::optional<LogLevel> ParseLogLevel(std::string_view text);
std::string_view LogLevelName(LogLevel level);

class Logger {
 public:
  explicit Logger(LogLevel min_level = LogLevel::kInfo, int fd = 2) : min_(min_level), fd_(fd) {}

  void SetLevel(LogLevel level) { min_.store(level); }
  bool Enabled(LogLevel level) const { return level >= min_.load(); }
  // `source` is "core" or a capability's name.
  void Log(LogLevel level, std::string_view source, std::string_view text) const;

  void Debug(std::string_view src, std::string_view t) const { Log(LogLevel::kDebug, src, t); }
  void Info(std::string_view src, std::string_view t) const { Log(LogLevel::kInfo, src, t); }
  void Warn(std::string_view src, std::string_view t) const { Log(LogLevel::kWarn, src, t); }
  void Error(std::string_view src, std::string_view t) const { Log(LogLevel::kError, src, t); }

 private:
  std::atomic<LogLevel> min_;
  int fd_;
};

}  // namespace banger::core
