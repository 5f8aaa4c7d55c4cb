// stale-reaper's unit tests, against the SDK's fake host (banger/testing.hpp):
// the capability's own source, its hooks driven without an agent.
#include <gtest/gtest.h>
#include <banger/testing.hpp>

extern "C" const banger_capability* banger_capability_entry(void);

namespace {

using banger::testing::FakeHost;
using banger::testing::Harness;

constexpr int64_t kHour = 3600 * 1000;

TEST(StaleReaperUnitTest, StopsOnlyRunningVmsUntouchedForLongerThanTheLimit) {
  FakeHost host("stale-reaper", {{"auto_stop_stale_after", "2h"}, {"interval", "1m"}});
  Harness reaper(banger_capability_entry(), host);
  ASSERT_TRUE(reaper.Init().ok());
  const int64_t now = 100 * kHour;
  auto& idle = host.AddVm("idle");
  idle.state = "running";
  idle.created_at_ms = idle.last_touched_at_ms = now - 3 * kHour;
  auto& touched = host.AddVm("touched");
  touched.state = "running";
  touched.created_at_ms = now - 3 * kHour;
  touched.last_touched_at_ms = now - kHour;
  auto& stopped = host.AddVm("stopped");
  stopped.state = "stopped";
  stopped.created_at_ms = now - 5 * kHour;
  ASSERT_TRUE(reaper.Tick(now).ok());
  ASSERT_EQ(host.stop_requests().size(), 1u);
  EXPECT_EQ(host.stop_requests()[0].first, idle.id);
  EXPECT_EQ(host.stop_requests()[0].second, "stale: untouched for 3h (auto_stop_stale_after = 2h)");
  EXPECT_TRUE(host.Logged("info: stopped vm \"idle\""));
  // The next round waits for the interval.
  touched.last_touched_at_ms = now - 3 * kHour;
  ASSERT_TRUE(reaper.Tick(now + 1000).ok());
  EXPECT_EQ(host.stop_requests().size(), 1u);
  ASSERT_TRUE(reaper.Tick(now + 60 * 1000).ok());
  EXPECT_EQ(host.stop_requests().size(), 2u);
}

TEST(StaleReaperUnitTest, OffByDefault) {
  FakeHost host("stale-reaper");
  Harness reaper(banger_capability_entry(), host);
  ASSERT_TRUE(reaper.Init().ok());
  EXPECT_TRUE(host.Logged("info: off (auto_stop_stale_after = 0)"));
  auto& vm = host.AddVm("old");
  vm.state = "running";
  ASSERT_TRUE(reaper.Tick(1000 * kHour).ok());
  EXPECT_TRUE(host.stop_requests().empty());
}

TEST(StaleReaperUnitTest, ABadDurationIsAConfigErrorNamingTheKey) {
  FakeHost host("stale-reaper", {{"interval", "often"}});
  Harness reaper(banger_capability_entry(), host);
  banger::Status s = reaper.Init();
  EXPECT_EQ(s.code(), BANGER_INVALID);
  EXPECT_EQ(s.message(),
            "config key interval: 'often' is not a duration; write it like 500ms, 10s, 2h or 0");
}

}  // namespace
