// stats' unit tests, against the SDK's fake host (banger/testing.hpp): its
// hooks driven without an agent, on this test process as the "VMM".
#include <gtest/gtest.h>
#include <unistd.h>
#include <banger/testing.hpp>

#include <nlohmann/json.hpp>

extern "C" const banger_capability* banger_capability_entry(void);

namespace {

using banger::testing::FakeHost;
using banger::testing::Harness;

TEST(StatsUnitTest, ATickPublishesTypedFiguresForEachRunningVm) {
  FakeHost host("stats", {{"interval", "1s"}});
  Harness stats(banger_capability_entry(), host);
  ASSERT_TRUE(stats.Init().ok());
  EXPECT_EQ(host.verbs(), std::vector<std::string>{"stats"});
  auto& running = host.AddVm("running");
  running.state = "running";
  running.pid = ::getpid();  // this process stands in for the VMM
  auto& stopped = host.AddVm("stopped");
  stopped.state = "stopped";
  ASSERT_TRUE(stats.Tick(10'000).ok());
  const auto& figures = host.figures();
  ASSERT_EQ(figures.count(running.id), 1u);
  EXPECT_EQ(figures.count(stopped.id), 0u) << "a stopped VM was sampled";
  const auto& f = figures.at(running.id);
  EXPECT_GT(f.at("rss_bytes").value, 0);
  EXPECT_FALSE(f.at("rss_bytes").counter);
  EXPECT_EQ(f.at("rss_bytes").unit, "bytes");
  EXPECT_TRUE(f.at("fc_net_rx_bytes_total").counter) << "a sum published as a gauge";
  EXPECT_TRUE(f.at("fc_metrics_lines_total").counter);
  // Within the interval, nothing new is published.
  host.RemoveVm(running.id);
  auto& later = host.AddVm("later");
  later.state = "running";
  later.pid = ::getpid();
  ASSERT_TRUE(stats.Tick(10'500).ok());
  EXPECT_EQ(host.figures().count(later.id), 0u);
  ASSERT_TRUE(stats.Tick(11'000).ok());
  EXPECT_EQ(host.figures().count(later.id), 1u);
}

TEST(StatsUnitTest, TheVerbAnswersForARunningVmAndRefusesAStoppedOne) {
  FakeHost host("stats");
  Harness stats(banger_capability_entry(), host);
  ASSERT_TRUE(stats.Init().ok());
  auto& vm = host.AddVm("web");
  vm.state = "running";
  vm.pid = ::getpid();
  auto reply = stats.Query("stats", "web");
  ASSERT_TRUE(reply.ok()) << reply.status.message();
  auto j = nlohmann::json::parse(reply.value);
  EXPECT_GT(j.value("rss_bytes", 0.0), 0);
  vm.state = "stopped";
  auto refused = stats.Query("stats", "web");
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.status.message(), "vm \"web\" is stopped, not running");
}

TEST(StatsUnitTest, ABadIntervalIsAConfigErrorNamingTheKey) {
  FakeHost host("stats", {{"interval", "0"}});
  Harness stats(banger_capability_entry(), host);
  banger::Status s = stats.Init();
  EXPECT_EQ(s.code(), BANGER_INVALID);
  EXPECT_EQ(s.message(), "config key interval: must be more than 0");
}

}  // namespace
