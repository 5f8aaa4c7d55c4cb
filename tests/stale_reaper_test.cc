// stale-reaper through a real agent with fc-sim and the recorder capability.
#include <filesystem>
#include <thread>

#include "tests/agent_fixture.h"

namespace banger::core {
namespace {

using nlohmann::json;

class StaleReaperTest : public testing::AgentFixture {
 protected:
  void Start(const std::string& reaper_config) {
    InstallCapabilities({"recorder"}, {"stale-reaper"});
    WriteConfig("vmm_binary = " + FcSimWith("--exit-delay-ms 20"),
                "[plugins]\nenable = recorder, stale-reaper\n[stale-reaper]\n" + reaper_config);
    StartAgent();
  }
  size_t Count(const std::string& text, const std::string& needle) {
    size_t n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
      ++n;
    return n;
  }
};

TEST_F(StaleReaperTest, AnUntouchedVmIsStoppedAndCleanedATouchedOneIsLeft) {
  Start("auto_stop_stale_after = 1500ms\ninterval = 100ms\n");
  CreateVm("idle");
  CreateVm("busy");
  ASSERT_EQ(Api("POST", "/v1/vms/idle/start")["state"], "running");
  ASSERT_EQ(Api("POST", "/v1/vms/busy/start")["state"], "running");
  // Keep "busy" touched while "idle" goes stale.
  std::atomic<bool> touching{true};
  std::thread toucher([&] {
    while (touching) {
      Api("POST", "/v1/vms/busy/touch");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  bool stopped = testing::WaitFor([&] { return Api("GET", "/v1/vms/idle")["state"] == "stopped"; },
                                  std::chrono::seconds(15));
  json busy = Api("GET", "/v1/vms/busy");
  touching = false;
  toucher.join();
  ASSERT_TRUE(stopped) << Api("GET", "/v1/vms/idle");
  EXPECT_EQ(busy["state"], "running");
  json idle = Api("GET", "/v1/vms/idle");
  EXPECT_NE(idle["last_stop_reason"].get<std::string>().find("stale-reaper: stale: untouched for "),
            std::string::npos)
      << idle;
  EXPECT_GT(idle["stopped_at_ms"].get<int64_t>(), 0);
  EXPECT_NE(agent_->log().find("recorder: hook cleanup idle"), std::string::npos);
  EXPECT_NE(agent_->log().find("\"op\":\"vm.stop_stale\""), std::string::npos);
  bool found = false;
  json ops = Api("GET", "/v1/operations");  // a local: iterating a temporary's member dangles
  for (const auto& op : ops["operations"]) {
    found = found || (op["op"] == "vm.stop_stale" && op["vm"] == "idle" && op["error"] == "");
  }
  EXPECT_TRUE(found) << ops;
  auto show = testing::RunCommand({BANGERCTL_PATH, "--socket", socket_, "vm", "show", "idle"});
  EXPECT_NE(show.output.find("by stale-reaper: stale: untouched for"), std::string::npos)
      << show.output;
}

TEST_F(StaleReaperTest, AStopRacingTheReaperLeavesOneCleanStop) {
  Start("auto_stop_stale_after = 1ms\ninterval = 50ms\n");
  CreateVm("web-1");
  // Started, and at once both the user and the reaper stop it.
  json started = Api("POST", "/v1/vms/web-1/start");
  json stopped = Api("POST", "/v1/vms/web-1/stop");
  ASSERT_TRUE(testing::WaitFor([&] { return Api("GET", "/v1/vms/web-1")["state"] == "stopped"; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let any late reaper round pass
  json vm = Api("GET", "/v1/vms/web-1");
  EXPECT_EQ(vm["state"], "stopped");
  EXPECT_EQ(vm["last_error"], "");
  EXPECT_EQ(Count(agent_->log(), "recorder: hook cleanup web-1"), 1u) << agent_->log();
}

TEST_F(StaleReaperTest, OffByDefault) {
  Start("");
  CreateVm("web-1");
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/start")["state"], "running");
  EXPECT_NE(agent_->log().find("stale-reaper: off (auto_stop_stale_after = 0)"), std::string::npos);
  json caps = Api("GET", "/v1/capabilities/stale-reaper");
  EXPECT_EQ(caps["status"], "ok");
}

}  // namespace
}  // namespace banger::core
