// The log's two formats with text that comes from outside the agent (a
// guest's console reaches error messages): every JSON line parses, a text
// line is one line a terminal shows as it is.
#include "core/base/logger.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>

namespace banger::core {
namespace {

std::string Logged(LogFormat format, std::string_view text, const std::vector<LogField>& fields) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  Logger(LogLevel::kInfo, format, fds[1]).Log(LogLevel::kInfo, "core", text, fields);
  ::close(fds[1]);
  std::string out(4096, '\0');
  ssize_t n = ::read(fds[0], out.data(), out.size());
  ::close(fds[0]);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

TEST(LoggerTest, AJsonLineParsesWhateverBytesTheTextHolds) {
  std::string hostile =
      std::string("boot \xff\xfe failed\r\x1b[2Jquote\" back\\ ") + "\xc3\xa9t\xc3\xa9";
  std::string line = Logged(LogFormat::kJson, hostile,
                            {{"vm", "web-1"}, LogField::Number("ms", 1.5), {"error", "\xc0\xaf"}});
  ASSERT_EQ(line.back(), '\n');
  auto j = nlohmann::json::parse(line, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << line;
  EXPECT_EQ(j["msg"],
            "boot \xef\xbf\xbd\xef\xbf\xbd failed\r\x1b[2Jquote\" back\\ \xc3\xa9t\xc3\xa9");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["capability"], "core");
  EXPECT_EQ(j["vm"], "web-1");
  EXPECT_EQ(j["ms"], 1.5);
  EXPECT_EQ(j["error"], "\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(LoggerTest, ATextLineIsOneLineWithoutControlBytes) {
  std::string line = Logged(LogFormat::kText, "one\ntwo\rthree\x1b[2J", {{"stage", "vmm boot"}});
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_NE(line.find("core: one two?three?[2J stage=\"vmm boot\"\n"), std::string::npos) << line;
}

}  // namespace
}  // namespace banger::core
