#include "core/duration.h"

#include <gtest/gtest.h>

namespace banger {
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
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(10000)), "10s");
  EXPECT_EQ(FormatDuration(milliseconds(90500)), "1m30s500ms");
  EXPECT_EQ(FormatDuration(milliseconds(3600000)), "1h");
}

}  // namespace
}  // namespace banger
