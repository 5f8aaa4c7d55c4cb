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
  EXPECT_NE(agent_->log().find("op=vm.stop_stale"), std::string::npos);
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

// The reaper's stop in flight (the VMM takes 800 ms to exit) when the user's
// stop arrives: the user's waits for it and finds the VM stopped; one
// cleanup, no error. The reaper's stop is seen in flight first, so the test
// cannot pass with a reaper that never ran.
TEST_F(StaleReaperTest, AStopRacingTheReaperLeavesOneCleanStop) {
  InstallCapabilities({"recorder"}, {"stale-reaper"});
  WriteConfig("vmm_binary = " + FcSimWith("--exit-delay-ms 800"),
              "[plugins]\nenable = recorder, stale-reaper\n[stale-reaper]\n"
              "auto_stop_stale_after = 200ms\ninterval = 50ms\n");
  StartAgent();
  CreateVm("web-1");
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/start")["state"], "running");
  auto reaper_in_flight = [&] {
    json ops = Api("GET", "/v1/operations");
    for (const auto& op : ops["operations"]) {
      if (op["op"] == "vm.stop_stale" && op["vm"] == "web-1" && op["done"] == false) return true;
    }
    return false;
  };
  ASSERT_TRUE(testing::WaitFor(reaper_in_flight)) << Api("GET", "/v1/operations");
  json stopped = Api("POST", "/v1/vms/web-1/stop");
  EXPECT_EQ(stopped["state"], "stopped") << stopped;
  EXPECT_NE(stopped["last_stop_reason"].get<std::string>().find("stale-reaper"), std::string::npos)
      << "the reaper's stop is the one that happened: " << stopped;
  json vm = Api("GET", "/v1/vms/web-1");
  EXPECT_EQ(vm["last_error"], "");
  EXPECT_EQ(Count(agent_->log(), "recorder: hook cleanup web-1"), 1u) << agent_->log();
  EXPECT_NE(agent_->log().find("detail=\"already stopped\""), std::string::npos)
      << "the user's stop found nothing left to do: " << agent_->log();
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
