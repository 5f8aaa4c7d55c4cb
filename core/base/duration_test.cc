#include "core/base/duration.h"

#include <gtest/gtest.h>
#include <banger/capability.hpp>

namespace banger::core {
namespace {

using std::chrono::milliseconds;

TEST(DurationTest, ParsesUnitsAndCombinations) {
  EXPECT_EQ(ParseDuration("0"), milliseconds(0));
  EXPECT_EQ(ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(ParseDuration("10s"), milliseconds(10000));
  EXPECT_EQ(ParseDuration("2m"), milliseconds(120000));
  EXPECT_EQ(ParseDuration("1h30m"), milliseconds(5400000));
  EXPECT_EQ(ParseDuration("1d"), milliseconds(86400000));
}

TEST(DurationTest, RefusesAmbiguousOrMalformedText) {
  for (const char* bad : {"", "10", "s", "10x", "-1s", "1.5s", "10 s", "ms10"}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  }
}

TEST(DurationTest, FormatsTheShortestExactSpelling) {
  EXPECT_EQ(FormatDurationMs(0), "0s");
  EXPECT_EQ(FormatDurationMs(10000), "10s");
  EXPECT_EQ(FormatDurationMs(90500), "1m30s500ms");
  EXPECT_EQ(FormatDurationMs(3600000), "1h");
  EXPECT_EQ(FormatDurationMs(7503000), "2h5m3s");
  for (int64_t ms : {int64_t{250}, int64_t{90500}, int64_t{86400000}, int64_t{7503000}}) {
    EXPECT_EQ(ParseDurationMs(FormatDurationMs(ms)), ms) << ms;
  }
}

}  // namespace
}  // namespace banger::core
