#include "core/plugin_host/verb_registry.h"

#include <gtest/gtest.h>

namespace banger::core {
namespace {

TEST(VerbRegistryTest, RegistersAndFinds) {
  VerbRegistry v;
  ASSERT_TRUE(v.Register("health", "guest-checker", "is the guest up").ok());
  auto f = v.Find("health");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->capability, "guest-checker");
  EXPECT_EQ(v.OfCapability("guest-checker").size(), 1u);
  EXPECT_FALSE(v.Find("ping").has_value());
}

TEST(VerbRegistryTest, RefusesTakenReservedAndMalformed) {
  VerbRegistry v;
  ASSERT_TRUE(v.Register("stats", "stats", "").ok());
  Status taken = v.Register("stats", "other", "");
  EXPECT_NE(taken.message().find("already registered by stats"), std::string::npos);
  EXPECT_NE(v.Register("start", "x", "").message().find("reserved"), std::string::npos);
  EXPECT_NE(v.Register("Bad Verb", "x", "").message().find("not of the form"), std::string::npos);
  EXPECT_FALSE(v.Register("", "x", "").ok());
}

}  // namespace
}  // namespace banger::core
