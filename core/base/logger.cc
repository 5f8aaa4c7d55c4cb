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

std::optional<LogFormat> ParseLogFormat(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return std::nullopt;
}

LogField LogField::Number(std::string_view key, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return {key, buf, true};
}

namespace {

// The length of the well-formed UTF-8 sequence at s[i], or 0.
size_t Utf8Length(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size() || (n == 2 && c < 0xc2)) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  }
  return n;
}

// A JSON string: quote, backslash and control bytes escaped, and a byte
// that is not UTF-8 (text from a guest's console can be anything) made
// U+FFFD, so that every line parses.
void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = Utf8Length(s, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
    } else if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  out.push_back('"');
}

// Text: one event, one line; a newline inside would forge a new entry, and
// a carriage return or an escape sequence would rewrite what a terminal
// shows: control bytes become '?'.
void AppendText(std::string& out, std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(c == '\n' ? ' ' : (u < 0x20 && c != '\t') || u == 0x7f ? '?' : c);
  }
}

// A text field's value: bare when it is one word, else quoted.
void AppendTextValue(std::string& out, std::string_view s) {
  bool bare = !s.empty() && s.find_first_of(" \t\n\"=") == std::string_view::npos;
  if (bare) {
    out.append(s);
  } else {
    AppendJsonString(out, s);
  }
}

}  // namespace

void Logger::Log(LogLevel level, std::string_view source, std::string_view text,
                 const std::vector<LogField>& fields) const {
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
  line.reserve(96 + text.size() + 24 * fields.size());
  if (format_ == LogFormat::kJson) {
    line.append("{\"time\":\"").append(stamp).append("\",\"level\":\"");
    line.append(LogLevelName(level)).append("\",\"capability\":");
    AppendJsonString(line, source);
    line.append(",\"msg\":");
    AppendJsonString(line, text);
    for (const auto& f : fields) {
      line.push_back(',');
      AppendJsonString(line, f.key);
      line.push_back(':');
      if (f.number) {
        line.append(f.value);
      } else {
        AppendJsonString(line, f.value);
      }
    }
    line.append("}\n");
  } else {
    line.append(stamp).append(" ").append(LogLevelName(level)).append(" ");
    line.append(source).append(": ");
    AppendText(line, text);
    for (const auto& f : fields) {
      if (f.value.empty()) continue;
      line.push_back(' ');
      line.append(f.key).push_back('=');
      AppendTextValue(line, f.value);
    }
    line.push_back('\n');
  }
  // Best effort: a log write that fails has nowhere to be reported.
  ssize_t unused = ::write(fd_, line.data(), line.size());
  (void)unused;
}

}  // namespace banger::core
