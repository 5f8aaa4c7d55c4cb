// Logger: the agent's line-oriented log on stderr (journald picks it up under
// systemd). One line per event, in one of two formats ([core] log_format):
//   text: "<utc time> <level> <source>: <text> key=value ..."
//   json: {"time":"<utc time>","level":"info","capability":"<source>",
//          "msg":"<text>","<key>":<value>,...}   (for journald and shippers)
// An event's fields (op, vm, stage, ms, ...) are fields in both, never JSON
// inside text. Thread-safe; a line is written with one write() so lines never
// interleave.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace banger::core {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug" | "info" | "warn" | "error"; nullopt for anything else.
std::optional<LogLevel> ParseLogLevel(std::string_view text);
std::string_view LogLevelName(LogLevel level);

enum class LogFormat { kText, kJson };
// "text" | "json"; nullopt for anything else.
std::optional<LogFormat> ParseLogFormat(std::string_view text);

// One field of an event: a string, or a number written as one.
struct LogField {
  std::string_view key;
  std::string value;
  bool number = false;
  static LogField Number(std::string_view key, double v);
};

class Logger {
 public:
  explicit Logger(LogLevel min_level = LogLevel::kInfo, LogFormat format = LogFormat::kText,
                  int fd = 2)
      : min_(min_level), format_(format), fd_(fd) {}

  void SetLevel(LogLevel level) { min_.store(level); }
  bool Enabled(LogLevel level) const { return level >= min_.load(); }
  // `source` is "core" or a capability's name.
  void Log(LogLevel level, std::string_view source, std::string_view text,
           const std::vector<LogField>& fields = {}) const;

  void Debug(std::string_view src, std::string_view t) const { Log(LogLevel::kDebug, src, t); }
  void Info(std::string_view src, std::string_view t) const { Log(LogLevel::kInfo, src, t); }
  void Warn(std::string_view src, std::string_view t) const { Log(LogLevel::kWarn, src, t); }
  void Error(std::string_view src, std::string_view t) const { Log(LogLevel::kError, src, t); }

 private:
  std::atomic<LogLevel> min_;
  LogFormat format_;
  int fd_;
};

}  // namespace banger::core
