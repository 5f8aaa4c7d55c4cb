#include "core/plugin_host/dependency_order.h"

#include <gtest/gtest.h>

namespace banger::core {
namespace {

TEST(DependencyOrderTest, DependenciesComeFirstAndInputOrderIsKept) {
  auto r = OrderByDependencies({{"nat", {"tap"}}, {"stats", {}}, {"tap", {}}, {"health", {}}});
  EXPECT_TRUE(r.refused.empty());
  EXPECT_EQ(r.order, (std::vector<std::string>{"tap", "nat", "stats", "health"}));
}

TEST(DependencyOrderTest, DiamondIsOrderedOnce) {
  auto r = OrderByDependencies({{"d", {"b", "c"}}, {"b", {"a"}}, {"c", {"a"}}, {"a", {}}});
  EXPECT_EQ(r.order, (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST(DependencyOrderTest, MissingDependencyIsRefusedWithItsName) {
  auto r = OrderByDependencies({{"nat", {"tap"}}, {"stats", {}}});
  EXPECT_EQ(r.order, std::vector<std::string>{"stats"});
  ASSERT_TRUE(r.refused.count("nat"));
  EXPECT_EQ(r.refused["nat"], "requires 'tap', which is not installed in any plugin dir");
}

TEST(DependencyOrderTest, UnavailableDependencyExplained) {
  auto r = OrderByDependencies({{"nat", {"tap"}}}, {{"tap", "is not enabled"}});
  EXPECT_EQ(r.refused["nat"], "requires 'tap', which is not enabled");
}

TEST(DependencyOrderTest, CycleRefusesEveryMemberAndDependents) {
  auto r = OrderByDependencies({{"a", {"b"}}, {"b", {"c"}}, {"c", {"a"}}, {"d", {"a"}}, {"e", {}}});
  EXPECT_EQ(r.order, std::vector<std::string>{"e"});
  EXPECT_EQ(r.refused["a"], "dependency cycle: a -> b -> c -> a");
  EXPECT_EQ(r.refused["b"], "dependency cycle: a -> b -> c -> a");
  EXPECT_EQ(r.refused["c"], "dependency cycle: a -> b -> c -> a");
  EXPECT_NE(r.refused["d"].find("requires 'a', which cannot be used: dependency cycle"),
            std::string::npos);
}

TEST(DependencyOrderTest, SelfDependencyIsACycle) {
  auto r = OrderByDependencies({{"a", {"a"}}});
  EXPECT_TRUE(r.order.empty());
  EXPECT_EQ(r.refused["a"], "dependency cycle: a -> a");
}

}  // namespace
}  // namespace banger::core
