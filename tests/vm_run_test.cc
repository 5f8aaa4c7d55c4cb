// `bangerctl vm run` tested as a process-based scheduler runs it (Nomad's
// raw_exec, a systemd unit, Slurm): spawn it, read its output, signal it,
// wait for it, read the exit code; kill it with SIGKILL and check the VM is
// still the agent's. And `vm logs`, with the console log capped and rotated.
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>

#include "tests/agent_fixture.h"

namespace banger::core {
namespace {

using nlohmann::json;
using testing::BackgroundProcess;

class VmRunTest : public testing::AgentFixture {
 protected:
  void Start(const std::string& fc_sim_options = "", const std::string& core_extra = "") {
    InstallCapabilities({"recorder"}, {});
    WriteConfig("vmm_binary = " + FcSimWith(fc_sim_options) + "\n" + core_extra,
                "[plugins]\nenable = recorder\n");
    StartAgent();
    testing::WriteFile(dir_ / "vmlinux", "kernel");
    testing::WriteFile(dir_ / "rootfs", std::string(4096, 'r'));
  }
  // What a scheduler starts: bangerctl in the foreground, output to a file.
  std::unique_ptr<BackgroundProcess> Run(const std::string& name, std::vector<std::string> extra,
                                         const std::string& out) {
    std::vector<std::string> argv{BANGERCTL_PATH, "--socket", socket_, "vm", "run", name};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<BackgroundProcess>(argv, dir_ / out);
  }
  std::vector<std::string> Spec() {
    return {"--kernel", dir_ / "vmlinux", "--rootfs", dir_ / "rootfs"};
  }
  std::string Out(const std::string& file) { return testing::ReadFile(dir_ / file); }
  bool OutHas(const std::string& file, const std::string& text) {
    return testing::WaitFor([&] { return Out(file).find(text) != std::string::npos; });
  }
  std::string State(const std::string& vm) {
    return Api("GET", "/v1/vms/" + vm).value("state", "");
  }
};

// SIGTERM (what Nomad, systemd and Kubernetes send first): the VM is stopped
// cleanly, bangerctl exits 0; --rm removes it. The console was on stdout.
TEST_F(VmRunTest, SigtermStopsTheVmCleanlyAndExitsZero) {
  Start();
  auto spec = Spec();
  spec.push_back("--rm");
  auto run = Run("job-1", spec, "run.out");
  ASSERT_TRUE(OutHas("run.out", "job-1 login:")) << Out("run.out");
  EXPECT_EQ(State("job-1"), "running");
  EXPECT_NE(Out("run.out").find("vmm.boot"), std::string::npos) << "stages are shown";
  run->Kill(SIGTERM);
  EXPECT_EQ(run->WaitExit(std::chrono::seconds(30)), 0) << Out("run.out");
  std::string out = Out("run.out");
  EXPECT_NE(out.find("SIGTERM: stopping vm job-1"), std::string::npos) << out;
  EXPECT_NE(out.find("reboot: Restarting system"), std::string::npos) << "the guest's console";
  EXPECT_NE(out.find("removed job-1"), std::string::npos) << out;
  EXPECT_EQ(Api("GET", "/v1/vms/job-1").value("error", ""),
            "no VM named 'job-1' or with an id starting 'job-1'");
  EXPECT_NE(agent_->log().find("recorder: hook cleanup"), std::string::npos);
}

// A VM that stops by itself (here its guest powers off) ends bangerctl with
// exit 1 and the reason: the scheduler sees a failed task.
TEST_F(VmRunTest, AVmThatStopsByItselfExitsOneWithTheReason) {
  Start("--poweroff-after-ms 300");
  auto run = Run("job-2", Spec(), "run.out");
  EXPECT_EQ(run->WaitExit(std::chrono::seconds(30)), 1) << Out("run.out");
  std::string out = Out("run.out");
  EXPECT_NE(out.find("reboot: Power down"), std::string::npos) << out;
  EXPECT_NE(out.find("bangerctl: vm job-2 stopped: VMM exited (noticed at once)"),
            std::string::npos)
      << out;
  EXPECT_EQ(State("job-2"), "stopped");
}

// bangerctl killed with SIGKILL (a scheduler giving up on it, an OOM kill):
// the VM runs on, managed by the agent, and `vm run NAME` attaches again,
// across an agent restart too; SIGINT then stops it, exit 0.
TEST_F(VmRunTest, KilledWithSigkillTheVmRunsOnAndRunAttachesAgain) {
  Start("--console-rate 2000");
  auto run = Run("job-3", Spec(), "run.out");
  ASSERT_TRUE(OutHas("run.out", "job-3 login:")) << Out("run.out");
  run->Kill(SIGKILL);
  EXPECT_EQ(run->WaitExit(std::chrono::seconds(10)), 128 + SIGKILL);
  json vm = Api("GET", "/v1/vms/job-3");
  EXPECT_EQ(vm["state"], "running") << vm;
  ProcessIdentity vmm{vm["runtime"]["pid"].get<pid_t>(), vm["runtime"]["pid_start_time"]};
  EXPECT_TRUE(ProcessAlive(vmm));

  auto again = Run("job-3", {}, "again.out");
  ASSERT_TRUE(OutHas("again.out", "attached to job-3 (running)")) << Out("again.out");
  ASSERT_TRUE(OutHas("again.out", "console line of the guest")) << Out("again.out");
  // The agent restarts under it (an upgrade): it waits, and follows again.
  agent_->Stop(SIGKILL);
  StartAgent("agent2.log");
  ASSERT_TRUE(OutHas("again.out", "lost bangerd")) << Out("again.out");
  size_t before = Out("again.out").size();
  ASSERT_TRUE(testing::WaitFor([&] { return Out("again.out").size() > before + 200; }))
      << Out("again.out");
  again->Kill(SIGINT);
  EXPECT_EQ(again->WaitExit(std::chrono::seconds(30)), 0) << Out("again.out");
  EXPECT_EQ(State("job-3"), "stopped");
  EXPECT_FALSE(ProcessAlive(vmm));
}

TEST_F(VmRunTest, ARunThatCannotStartExitsOneAndLeavesNothing) {
  Start();
  auto run =
      Run("job-4", {"--kernel", dir_ / "no-such-kernel", "--rootfs", dir_ / "rootfs", "--rm"},
          "run.out");
  EXPECT_EQ(run->WaitExit(std::chrono::seconds(30)), 1) << Out("run.out");
  EXPECT_NE(Out("run.out").find("no-such-kernel"), std::string::npos) << Out("run.out");
  EXPECT_EQ(Api("GET", "/v1/vms")["vms"].size(), 0u);
  auto usage = testing::RunCommand({BANGERCTL_PATH, "--socket", socket_, "vm", "run", "job-5"});
  EXPECT_EQ(usage.exit_code, 1);
  EXPECT_NE(usage.output.find("no VM named job-5; give --kernel and --rootfs to create it"),
            std::string::npos)
      << usage.output;
}

// A log follow waits on a quiet VM, holding a handler thread: a reader that
// goes away is noticed without anything to send, and the agent's shutdown is
// not held until the VM stops (systemctl stop would wait its whole timeout).
TEST_F(VmRunTest, AFollowerThatLeavesIsNoticedAndNoneHoldsTheAgentsShutdown) {
  Start();
  ASSERT_EQ(CreateVm("quiet")["name"], "quiet");
  ASSERT_EQ(Api("POST", "/v1/vms/quiet/start")["state"], "running");
  // The agent's request handlers (threads named api-handler); the start's
  // may not have ended yet.
  auto handlers = [&] {
    size_t n = 0;
    for (const auto& e :
         std::filesystem::directory_iterator("/proc/" + std::to_string(agent_->pid()) + "/task")) {
      if (testing::ReadFile(e.path() / "comm") == "api-handler\n") ++n;
    }
    return n;
  };
  ASSERT_TRUE(testing::WaitFor([&] { return handlers() == 0; })) << handlers();
  std::vector<std::unique_ptr<BackgroundProcess>> followers;
  for (int i = 0; i < 8; ++i) {
    followers.push_back(std::make_unique<BackgroundProcess>(
        std::vector<std::string>{BANGERCTL_PATH, "--socket", socket_, "vm", "logs", "quiet", "-f"},
        dir_ / ("follow-" + std::to_string(i) + ".out")));
  }
  ASSERT_TRUE(testing::WaitFor([&] { return handlers() == 8; }, std::chrono::seconds(30)))
      << handlers();
  for (auto& f : followers) f->Kill(SIGKILL);
  EXPECT_TRUE(testing::WaitFor([&] { return handlers() == 0; }, std::chrono::seconds(30)))
      << handlers() << " handlers still follow a log nobody reads";

  auto follower = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{BANGERCTL_PATH, "--socket", socket_, "vm", "logs", "quiet", "-f"},
      dir_ / "follow.out");
  ASSERT_TRUE(OutHas("follow.out", "quiet login:"));
  EXPECT_EQ(agent_->Stop(SIGTERM), 0) << agent_->log();
  EXPECT_GE(follower->WaitExit(std::chrono::seconds(10)), 0);
}

// The console log: `vm logs` (all, --tail N, -f until the VM stops), and the
// file never past console_log_max, rotated to vmm.log.1 (keep 1: no .2).
TEST_F(VmRunTest, LogsFollowTailAndACappedRotatedFile) {
  Start("--console-rate 100000", "console_log_max = 64K\nconsole_log_keep = 1");
  ASSERT_EQ(CreateVm("web")["name"], "web");
  json vm = Api("POST", "/v1/vms/web/start");
  ASSERT_EQ(vm["state"], "running") << vm;
  std::string log = vm["runtime"]["log_path"];

  auto follow = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{BANGERCTL_PATH, "--socket", socket_, "vm", "logs", "web", "-f"},
      dir_ / "follow.out");
  // 100 KB/s into a 64 KiB file: rotated within a second or two.
  ASSERT_TRUE(testing::WaitFor([&] { return std::filesystem::exists(log + ".1"); },
                               std::chrono::seconds(20)));
  ASSERT_TRUE(
      testing::WaitFor([&] { return testing::ReadFile(dir_ / "follow.out").size() > 150000; },
                       std::chrono::seconds(20)));
  for (const std::string& f : {log, log + ".1"}) {
    EXPECT_LE(std::filesystem::file_size(f), 64u << 10) << f;
  }
  EXPECT_FALSE(std::filesystem::exists(log + ".2"));

  auto tail = testing::RunCommand(
      {BANGERCTL_PATH, "--socket", socket_, "vm", "logs", "web", "--tail", "3"});
  EXPECT_EQ(tail.exit_code, 0);
  EXPECT_EQ(std::count(tail.output.begin(), tail.output.end(), '\n'), 3) << tail.output;
  auto all = testing::RunCommand({BANGERCTL_PATH, "--socket", socket_, "vm", "logs", "web"});
  EXPECT_LE(all.output.size(), 128u << 10);

  // -f ends by itself once the VM stopped, with what it wrote last.
  ASSERT_EQ(Api("POST", "/v1/vms/web/stop")["state"], "stopped");
  EXPECT_EQ(follow->WaitExit(std::chrono::seconds(10)), 0);
  std::string followed = testing::ReadFile(dir_ / "follow.out");
  EXPECT_NE(followed.find("reboot: Restarting system"), std::string::npos)
      << followed.substr(followed.size() > 400 ? followed.size() - 400 : 0);
  auto missing = testing::RunCommand({BANGERCTL_PATH, "--socket", socket_, "vm", "logs", "nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("no VM named 'nope'"), std::string::npos) << missing.output;
}

}  // namespace
}  // namespace banger::core
