#include "core/base/logger.h"

#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace banger::core {

std::optional<LogLevel> ParseLogLevel(std::string_view text) {
  if (text == "debug") return LogLevel::kDebug;
  if (text == "info") return LogLevel::kInfo;
  if (text == "warn") return LogLevel::kWarn;
  if (text == "error") return LogLevel::kError;
  return std::nullopt;
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void Logger::Log(LogLevel level, std::string_view source, std::string_view text) const {
  if (!Enabled(level)) return;
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char stamp[96];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  std::string line;
  line.reserve(64 + text.size());
  line.append(stamp).append(" ").append(LogLevelName(level)).append(" ");
  line.append(source).append(": ");
  // One event, one line: a newline inside the text would forge a new entry.
  for (char c : text) line.push_back(c == '\n' ? ' ' : c);
  line.push_back('\n');
  // Best effort: a log write that fails has nowhere to be reported.
  ssize_t unused = ::write(fd_, line.data(), line.size());
  (void)unused;
}

}  // namespace banger::core
