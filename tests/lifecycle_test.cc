// The VM lifecycle end to end: a real bangerd with fc-sim as its VMM and two
// test capabilities (plain-c, then recorder) that log every hook call.
#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/base/unix_http_client.h"
#include "core/vmm/process_identity.h"
#include "tests/test_support.h"

namespace banger::core {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::AgentProcess;
using testing::TempDir;

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

struct ApiReply {
  int status = 0;
  json body;
};

class LifecycleTest : public ::testing::Test {
 protected:
  LifecycleTest() : socket_(dir_ / "run/b.sock") {
    testing::CopyPlugins(dir_ / "plugins", {"plain-c", "recorder"});
    std::filesystem::create_directories(dir_ / "img");
    testing::WriteFile(dir_ / "img/vmlinux", "kernel");
    testing::WriteFile(dir_ / "img/rootfs.ext4", std::string(1 << 16, 'r'));
    WriteConfig();
  }
  ~LifecycleTest() override {
    agent_.reset();
    // Whatever a failing test left running is not left for the next one.
    for (const auto& p : VmmsOfThisTest()) ::kill(p.pid, SIGKILL);
  }

  void WriteConfig(const std::string& vmm_binary = FC_SIM_PATH,
                   const std::string& extra_core = "") {
    testing::WriteFile(dir_ / "bangerd.conf",
                       "[core]\nstate_dir = " + (dir_ / "state") + "\nsocket = " + socket_ +
                           "\nplugin_dirs = " + (dir_ / "plugins") +
                           "\nvmm_binary = " + vmm_binary + "\n" + extra_core +
                           "\n[plugins]\nenable = plain-c, recorder\n");
  }

  void StartAgent(const std::string& log = "agent.log") {
    agent_ = std::make_unique<AgentProcess>(
        std::vector<std::string>{"--config", dir_ / "bangerd.conf"}, dir_ / log);
    ASSERT_TRUE(agent_->WaitReady(socket_)) << agent_->log();
  }

  ApiReply Api(const std::string& method, const std::string& path, const json& body = nullptr) {
    auto r = UnixHttpCall(socket_, method, path, body.is_null() ? "" : body.dump(), 60s);
    ApiReply out;
    if (!r.ok()) {
      out.body = json{{"error", "transport: " + r.error}};
      return out;
    }
    out.status = r.reply.status;
    out.body = json::parse(r.reply.body, nullptr, false);
    return out;
  }

  ApiReply Create(const std::string& name) {
    return Api("POST", "/v1/vms",
               {{"name", name},
                {"kernel", dir_ / "img/vmlinux"},
                {"rootfs", dir_ / "img/rootfs.ext4"},
                {"work_disk_bytes", 1 << 20}});
  }

  // An agent with web-1 and web-2 created and running: their start replies.
  std::pair<ApiReply, ApiReply> AgentWithTwoRunningVms() {
    StartAgent();
    EXPECT_EQ(Create("web-1").status, 201);
    EXPECT_EQ(Create("web-2").status, 201);
    ApiReply a = Api("POST", "/v1/vms/web-1/start");
    ApiReply b = Api("POST", "/v1/vms/web-2/start");
    EXPECT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(b.status, 200) << b.body;
    return {a, b};
  }

  // VMM processes serving a socket under this test's dir.
  std::vector<ProcessIdentity> VmmsOfThisTest() {
    std::vector<ProcessIdentity> out;
    for (const auto& [socket, procs] : ScanApiSocketProcesses()) {
      if (socket.rfind(dir_.path(), 0) == 0) out.insert(out.end(), procs.begin(), procs.end());
    }
    return out;
  }

  std::string Log(const std::string& name = "agent.log") { return testing::ReadFile(dir_ / name); }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<AgentProcess> agent_;
};

// A capability-wide command: not about one VM (bangerctl caps NAME VERB,
// POST /v1/capabilities/NAME/VERB).
TEST_F(LifecycleTest, CapabilityWideCommandsAnswerThroughTheApiAndBangerctl) {
  StartAgent();
  ASSERT_EQ(Create("web-1").status, 201);
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/start").body["state"], "running");
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/stop").body["state"], "stopped");
  ApiReply hooks = Api("POST", "/v1/capabilities/recorder/hooks");
  EXPECT_EQ(hooks.status, 200);
  EXPECT_EQ(hooks.body, json({{"prepares", 1}, {"cleanups", 1}}));
  ApiReply none = Api("POST", "/v1/capabilities/recorder/nope");
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(none.body["error"], "capability recorder has no command 'nope'; its commands: hooks");
  EXPECT_EQ(Api("POST", "/v1/capabilities/ghost/hooks").status, 404);
  EXPECT_EQ(Api("GET", "/v1/capabilities/recorder").body["commands"][0]["command"], "hooks");
  auto r = testing::RunCommand({BANGERCTL_PATH, "--socket", socket_, "caps", "recorder", "hooks"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json::parse(r.output, nullptr, false)["prepares"], 1) << r.output;
}

// --opt: stored with the VM, checked by the capability that owns the
// prefix at create (a typo is refused then, not at start), read at start.
TEST_F(LifecycleTest, PerVmOptionsAreCheckedAtCreateByTheirCapabilityAndReadAtStart) {
  StartAgent();
  auto create = [&](const std::string& name, const json& options) {
    return Api("POST", "/v1/vms",
               {{"name", name},
                {"kernel", dir_ / "img/vmlinux"},
                {"rootfs", dir_ / "img/rootfs.ext4"},
                {"options", options}});
  };
  ApiReply ok = create("web-1", {{"recorder.mode", "fast"}});
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(ok.body["options"], json({{"recorder.mode", "fast"}}));
  struct Case {
    json options;
    std::string error;
  };
  const Case refused[] = {
      {{{"recorder.mdoe", "fast"}},
       "vm \"web-2\": create: recorder: unknown option 'mdoe'; it takes: mode"},
      {{{"recorder.mode", "warp"}},
       "vm \"web-2\": create: recorder: option mode takes fast or slow, not 'warp'"},
      {{{"ghost.x", "1"}},
       "vm \"web-2\": create: option 'ghost.x': no capability 'ghost' is running (running: "
       "plain-c, recorder)"},
      {{{"plain-c.x", "1"}},
       "vm \"web-2\": create: option 'plain-c.x': plain-c takes no per-VM options"},
      {{{"Recorder", "1"}},
       "create: option 'Recorder' is not <capability>.<key> (a key is 1 to 64 of a-z 0-9 _ . -)"},
      {{{"recorder.mode", 3}}, "create: option 'recorder.mode' must have a string value"},
  };
  for (const auto& c : refused) {
    ApiReply r = create("web-2", c.options);
    EXPECT_EQ(r.status, 400) << c.options;
    EXPECT_EQ(r.body.value("error", ""), c.error);
  }
  EXPECT_EQ(Api("GET", "/v1/vms/web-2").status, 404) << "a refused create left a VM";
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/start").body["state"], "running");
  EXPECT_NE(Log().find("recorder: hook prepare web-1 mode=fast"), std::string::npos) << Log();
  // bangerctl: --opt, and the refusal on one line.
  auto typo = testing::RunCommand({BANGERCTL_PATH, "--socket", socket_, "vm", "create", "web-3",
                                   "--kernel", dir_ / "img/vmlinux", "--rootfs",
                                   dir_ / "img/rootfs.ext4", "--opt", "recorder.mdoe=fast"});
  EXPECT_EQ(typo.exit_code, 1);
  EXPECT_EQ(typo.output,
            "bangerctl: vm \"web-3\": create: recorder: unknown option 'mdoe'; it takes: mode\n");
  auto shown = testing::RunCommand({BANGERCTL_PATH, "--socket", socket_, "vm", "show", "web-1"});
  EXPECT_NE(shown.output.find("options:\n  recorder.mode = fast\n"), std::string::npos)
      << shown.output;
}

// capability.h promises prepare, cleanup and query never run at the same
// time for one VM. A verb used to be answered on the connection's thread
// without the VM's lock, so `vm echo web-1` ran inside recorder's cleanup.
TEST_F(LifecycleTest, AVerbNeverRunsInsideACleanupOfTheSameVm) {
  WriteConfig();
  testing::WriteFile(dir_ / "bangerd.conf", testing::ReadFile(dir_ / "bangerd.conf") +
                                                "[recorder]\ncleanup_delay_ms = 800\n");
  StartAgent();
  ASSERT_EQ(Create("web-1").status, 201);
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/start").body["state"], "running");
  std::thread stopper([&] { Api("POST", "/v1/vms/web-1/stop"); });
  ASSERT_TRUE(testing::WaitFor(
      [&] { return Log().find("recorder: hook cleanup web-1") != std::string::npos; }));
  ApiReply verb = Api("POST", "/v1/vms/web-1/echo");
  stopper.join();
  EXPECT_EQ(verb.status, 200) << verb.body;
  EXPECT_EQ(verb.body["during_cleanup"], false) << "the verb ran inside the VM's cleanup";
}

TEST_F(LifecycleTest, CreateStartShowStopRemove) {
  StartAgent();
  ApiReply created = Create("web-1");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.body["state"], "created");
  std::string id = created.body["id"];
  EXPECT_TRUE(std::filesystem::exists(dir_ / ("state/vms/" + id + "/system.img")));
  EXPECT_EQ(std::filesystem::file_size(dir_ / ("state/vms/" + id + "/work.img")), 1u << 20);

  ApiReply started = Api("POST", "/v1/vms/web-1/start");
  ASSERT_EQ(started.status, 200) << started.body;
  EXPECT_EQ(started.body["state"], "running");
  EXPECT_EQ(started.body["runtime"]["vmm_state"], "Running");
  EXPECT_GE(started.body["runtime"]["vsock_cid"].get<int>(), 3);
  pid_t pid = started.body["runtime"]["pid"];
  EXPECT_TRUE(ProcessAlive({pid, started.body["runtime"]["pid_start_time"]}));
  EXPECT_CONTAINS(Log(), "plain-c: hook prepare web-1");
  EXPECT_LT(Log().find("plain-c: hook prepare web-1"), Log().find("recorder: hook prepare web-1"));

  ApiReply shown = Api("GET", "/v1/vms/" + id.substr(0, 6));  // by id prefix
  EXPECT_EQ(shown.body["name"], "web-1");

  ApiReply stopped = Api("POST", "/v1/vms/web-1/stop");
  ASSERT_EQ(stopped.status, 200) << stopped.body;
  EXPECT_EQ(stopped.body["state"], "stopped");
  EXPECT_EQ(stopped.body["runtime"]["pid"], 0);
  EXPECT_EQ(stopped.body["last_stop_reason"], "user");
  EXPECT_TRUE(VmmsOfThisTest().empty());
  std::string log = Log();
  EXPECT_LT(log.find("recorder: hook cleanup web-1"), log.find("plain-c: hook cleanup web-1"));

  // Every stage was logged as one line with its fields.
  EXPECT_CONTAINS(log, "op=vm.start vm=web-1 stage=vmm.spawn ms=");
  EXPECT_CONTAINS(log, "stage=vmm.boot");
  ApiReply ops = Api("GET", "/v1/operations");
  ASSERT_GE(ops.body["operations"].size(), 3u);
  EXPECT_EQ(ops.body["operations"][0]["op"], "vm.stop");

  ApiReply removed = Api("DELETE", "/v1/vms/web-1");
  EXPECT_EQ(removed.status, 200) << removed.body;
  EXPECT_FALSE(std::filesystem::exists(dir_ / ("state/vms/" + id)));
  EXPECT_EQ(Api("GET", "/v1/vms/web-1").status, 404);
}

TEST_F(LifecycleTest, BangerctlDrivesTheLifecycleAndPluginVerbs) {
  StartAgent();
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {BANGERCTL_PATH, "--socket", socket_});
    return testing::RunCommand(args);
  };
  auto created = ctl({"vm", "create", "web-1", "--kernel", dir_ / "img/vmlinux", "--rootfs",
                      dir_ / "img/rootfs.ext4", "--work-disk", "1M"});
  ASSERT_EQ(created.exit_code, 0) << created.output;
  auto started = ctl({"vm", "start", "web-1"});
  ASSERT_EQ(started.exit_code, 0) << started.output;
  for (const char* stage : {"record.starting", "prepare", "vmm.spawn", "vmm.ready", "vmm.configure",
                            "vmm.boot", "record.running"}) {
    EXPECT_CONTAINS(started.output, stage);
  }
  EXPECT_CONTAINS(started.output, "started web-1");
  auto ls = ctl({"vm", "ls"});
  EXPECT_CONTAINS(ls.output, "NAME   ID        STATE    IP  UPTIME");
  EXPECT_CONTAINS(ls.output, "running");
  auto json_ls = ctl({"--json", "vm", "ls"});
  EXPECT_EQ(json::parse(json_ls.output)["vms"][0]["state"], "running");
  // A capability's verb, unknown to bangerctl.
  auto echo = ctl({"vm", "echo", "web-1"});
  EXPECT_EQ(echo.exit_code, 0) << echo.output;
  EXPECT_EQ(json::parse(echo.output)["greeting"], "hello");
  auto unknown = ctl({"vm", "frobnicate", "web-1"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_CONTAINS(unknown.output, "no command 'frobnicate' for VMs");
  EXPECT_CONTAINS(unknown.output, "echo");
  auto show = ctl({"vm", "show", "web-1"});
  EXPECT_CONTAINS(show.output, "state:          running");
  auto stop = ctl({"vm", "stop", "web-1"});
  EXPECT_EQ(stop.exit_code, 0) << stop.output;
  EXPECT_CONTAINS(stop.output, "ctrl-alt-del");
  auto rm = ctl({"vm", "rm", "web-1"});
  EXPECT_EQ(rm.exit_code, 0) << rm.output;
  auto missing = ctl({"vm", "start", "web-1"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.output,
            "bangerctl: start web-1: no VM named 'web-1' or with an id starting "
            "'web-1'\n");
}

TEST_F(LifecycleTest, AFailedPrepareRollsBackTheCapabilitiesBeforeIt) {
  StartAgent();
  ASSERT_EQ(Create("fail-prepare").status, 201);
  ApiReply r = Api("POST", "/v1/vms/fail-prepare/start");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body["error"],
            "vm \"fail-prepare\": start failed at prepare: recorder: prepare vm \"fail-prepare\": "
            "prepare refused by test");
  std::string log = Log();
  EXPECT_CONTAINS(log, "plain-c: hook prepare fail-prepare");
  EXPECT_CONTAINS(log, "recorder: hook cleanup fail-prepare");
  EXPECT_CONTAINS(log, "plain-c: hook cleanup fail-prepare");
  EXPECT_EQ(log.find("vmm.spawn\",\"vm\":\"fail-prepare"), std::string::npos)
      << "a VMM was started";
  ApiReply vm = Api("GET", "/v1/vms/fail-prepare");
  EXPECT_EQ(vm.body["state"], "error");
  EXPECT_CONTAINS(vm.body["last_error"].get<std::string>(), "start failed at prepare");
  EXPECT_TRUE(VmmsOfThisTest().empty());
}

TEST_F(LifecycleTest, AKernelThatVanishedFailsTheStartAndLeavesNothing) {
  StartAgent();
  ApiReply made = Create("web-1");
  ASSERT_EQ(made.status, 201);
  // Both the image and the VM's copy of it (made at create) are gone.
  std::filesystem::remove(dir_ / "img/vmlinux");
  ASSERT_TRUE(std::filesystem::remove(
      dir_ / ("state/vms/" + made.body["id"].get<std::string>() + "/vmlinux")));
  ApiReply r = Api("POST", "/v1/vms/web-1/start");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"],
            "vm \"web-1\": start failed at vmm.configure: firecracker PUT "
            "/boot-source: The kernel file cannot be opened: No such file or "
            "directory (os error 2)");
  EXPECT_TRUE(VmmsOfThisTest().empty()) << "the VMM of a failed start was left running";
  EXPECT_CONTAINS(Log(), "recorder: hook cleanup web-1");
  ApiReply vm = Api("GET", "/v1/vms/web-1");
  EXPECT_EQ(vm.body["state"], "error");
  EXPECT_EQ(vm.body["runtime"]["pid"], 0);
}

TEST_F(LifecycleTest, StopEscalatesToSigkillWhenTheGuestIgnoresCtrlAltDel) {
  std::string wrapper = dir_ / "stubborn-vmm";
  testing::WriteFile(
      wrapper, std::string("#!/bin/sh\nexec ") + FC_SIM_PATH + " --ignore-ctrl-alt-del \"$@\"\n");
  std::filesystem::permissions(wrapper, std::filesystem::perms(0755));
  WriteConfig(wrapper, "vmm_stop_timeout = 300ms");
  StartAgent();
  ASSERT_EQ(Create("web-1").status, 201);
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/start").status, 200);
  ApiReply stopped = Api("POST", "/v1/vms/web-1/stop");
  ASSERT_EQ(stopped.status, 200) << stopped.body;
  EXPECT_EQ(stopped.body["state"], "stopped");
  EXPECT_TRUE(VmmsOfThisTest().empty());
  EXPECT_CONTAINS(Log(), "detail=\"sigkill (no exit within 300 ms of SendCtrlAltDel)\"");
  EXPECT_CONTAINS(Log(), "recorder: hook cleanup web-1");
}

TEST_F(LifecycleTest, AKilledAgentReadoptsRunningVms) {
  auto [a, b] = AgentWithTwoRunningVms();
  ASSERT_FALSE(HasFailure());
  agent_->Stop(SIGKILL);
  EXPECT_EQ(VmmsOfThisTest().size(), 2u) << "VMMs must outlive the agent";
  StartAgent("agent2.log");
  ApiReply again = Api("GET", "/v1/vms/web-1");
  EXPECT_EQ(again.body["state"], "running");
  EXPECT_EQ(again.body["runtime"]["pid"], a.body["runtime"]["pid"]);
  EXPECT_EQ(Log("agent2.log").find("hook cleanup"), std::string::npos)
      << "re-adopted VMs were cleaned";
  ApiReply stopped = Api("POST", "/v1/vms/web-1/stop");
  EXPECT_EQ(stopped.body["state"], "stopped") << stopped.body;
  ApiReply stopped2 = Api("POST", "/v1/vms/web-2/stop");
  EXPECT_EQ(stopped2.body["state"], "stopped") << stopped2.body;
  EXPECT_TRUE(VmmsOfThisTest().empty());
}

// At start a VM recorded running is re-adopted by its VMM's PID and start
// time alone (asking a thousand APIs was most of a restart); the first
// periodic reconcile, right after the socket serves, asks every API, and a
// VMM that is alive but does not answer is then stopped and cleaned up.
TEST_F(LifecycleTest, AVmmThatStopsAnsweringWhileTheAgentIsDownIsFoundRightAfterItServes) {
  WriteConfig(FC_SIM_PATH, "vmm_api_timeout = 300ms\nreconcile_interval = 1h");
  StartAgent();
  ASSERT_EQ(Create("web-1").status, 201);
  ASSERT_EQ(Create("web-2").status, 201);
  ApiReply hung = Api("POST", "/v1/vms/web-1/start");
  ASSERT_EQ(hung.body["state"], "running") << hung.body;
  ASSERT_EQ(Api("POST", "/v1/vms/web-2/start").body["state"], "running");
  agent_->Stop(SIGKILL);
  ProcessIdentity vmm{hung.body["runtime"]["pid"].get<pid_t>(),
                      hung.body["runtime"]["pid_start_time"]};
  ASSERT_EQ(::kill(vmm.pid, SIGSTOP), 0);  // alive, its API silent
  StartAgent("agent2.log");
  // Without waiting for reconcile_interval (an hour), it is stopped: the API
  // check that reconcile at start left out is not left out for long.
  EXPECT_TRUE(testing::WaitFor([&] {
    return Api("GET", "/v1/vms/web-1").body["state"] == "stopped";
  })) << Api("GET", "/v1/vms/web-1").body;
  EXPECT_FALSE(ProcessAlive(vmm));
  EXPECT_CONTAINS(Log("agent2.log"), "recorder: hook cleanup web-1");
  EXPECT_EQ(Api("GET", "/v1/vms/web-2").body["state"], "running")
      << "the answering VMM was touched";
}

TEST_F(LifecycleTest, AVmmThatDiedWhileTheAgentWasDownIsCleanedUpAtStart) {
  StartAgent();
  ASSERT_EQ(Create("web-1").status, 201);
  ApiReply a = Api("POST", "/v1/vms/web-1/start");
  ASSERT_EQ(a.status, 200);
  agent_->Stop(SIGKILL);
  ProcessIdentity vmm{a.body["runtime"]["pid"].get<pid_t>(), a.body["runtime"]["pid_start_time"]};
  ::kill(vmm.pid, SIGKILL);
  ASSERT_TRUE(testing::WaitFor([&] { return !ProcessAlive(vmm); }));
  StartAgent("agent2.log");
  ApiReply vm = Api("GET", "/v1/vms/web-1");
  EXPECT_EQ(vm.body["state"], "stopped") << vm.body;
  // "running" is written behind (within 20 ms, VmStore::kWriteBehindDelay): an agent
  // killed at once may have left the VM recorded starting, and says so.
  std::string reason = vm.body.value("last_stop_reason", "");
  EXPECT_TRUE(reason == "VMM exited (found by reconcile)" ||
              reason == "agent restarted during start (found by reconcile)")
      << reason;
  EXPECT_CONTAINS(Log("agent2.log"), "recorder: hook cleanup web-1");
  EXPECT_CONTAINS(Log("agent2.log"), "plain-c: hook cleanup web-1");
}

// A VMM that exits while the agent runs (the guest powered off, the VMM
// crashed or was killed) is noticed at once, not at the next reconcile (an
// hour away here): the VM is stopped and every capability cleaned up. Both
// a VMM the agent started and one it re-adopted after a restart.
TEST_F(LifecycleTest, AVmmThatExitsIsNoticedAtOnceNotAtTheNextReconcile) {
  WriteConfig(FC_SIM_PATH, "reconcile_interval = 1h");
  auto [a, b] = AgentWithTwoRunningVms();
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(::kill(a.body["runtime"]["pid"].get<pid_t>(), SIGKILL), 0);
  ASSERT_TRUE(testing::WaitFor([&] {
    return Api("GET", "/v1/vms/web-1").body["state"] == "stopped";
  })) << Api("GET", "/v1/vms/web-1").body;
  EXPECT_EQ(Api("GET", "/v1/vms/web-1").body["last_stop_reason"], "VMM exited (noticed at once)");
  EXPECT_CONTAINS(Log(), "recorder: hook cleanup web-1");
  EXPECT_EQ(Api("GET", "/v1/vms/web-2").body["state"], "running");

  agent_->Stop(SIGKILL);
  StartAgent("agent2.log");  // web-2 is re-adopted, not started by this agent
  ASSERT_EQ(::kill(b.body["runtime"]["pid"].get<pid_t>(), SIGKILL), 0);
  ASSERT_TRUE(testing::WaitFor([&] {
    return Api("GET", "/v1/vms/web-2").body["state"] == "stopped";
  })) << Api("GET", "/v1/vms/web-2").body;
  EXPECT_CONTAINS(Log("agent2.log"), "recorder: hook cleanup web-2");
  EXPECT_TRUE(VmmsOfThisTest().empty());
}

TEST_F(LifecycleTest, AVmmRunningForAStoppedVmIsStopped) {
  WriteConfig(FC_SIM_PATH, "reconcile_interval = 100ms");
  StartAgent();
  ApiReply vm = Create("web-1");
  std::string api_socket =
      dir_ / ("state/vms/" + vm.body["id"].get<std::string>() + "/firecracker.sock");
  // A VMM nobody recorded, serving this stopped VM's socket.
  testing::BackgroundProcess stray({FC_SIM_PATH, "--api-sock", api_socket}, dir_ / "stray.log");
  EXPECT_EQ(stray.WaitExit(10s), 128 + SIGKILL) << "reconcile did not stop the stray VMM";
  // The agent logs once its own wait for the kill returns: wait for the line.
  EXPECT_TRUE(testing::WaitFor([&] {
    return Log().find("is recorded created but a VMM ran for it; stopped 1") != std::string::npos;
  })) << Log();
}

// The agent killed mid-create (BANGER_CRASH_AT: the fault point kills it with
// SIGKILL there): at the next start the half-made VM is undone and said so;
// no directory and no record is left, and the name can be used again.
TEST_F(LifecycleTest, AnAgentKilledDuringCreateLeavesNothingAfterItsRestart) {
#ifndef BANGER_FAULT_POINTS
  GTEST_SKIP() << "built without fault points (BANGER_FAULT_POINTS=OFF)";
#endif
  for (const char* point :
       {"lifecycle.create.recorded", "lifecycle.create.dir_made", "lifecycle.create.files_made"}) {
    SCOPED_TRACE(point);
    ::setenv("BANGER_CRASH_AT", point, 1);
    auto doomed = std::make_unique<AgentProcess>(
        std::vector<std::string>{"--config", dir_ / "bangerd.conf"}, dir_ / "doomed.log");
    ::unsetenv("BANGER_CRASH_AT");
    ASSERT_TRUE(doomed->WaitReady(socket_)) << doomed->log();
    EXPECT_EQ(Create("web").status, 0) << "the agent died before it could answer";
    EXPECT_EQ(doomed->WaitExit(10s), 128 + SIGKILL) << doomed->log();
    EXPECT_CONTAINS(doomed->log(), std::string("fault point ") + point + ": SIGKILL");

    StartAgent();
    EXPECT_CONTAINS(agent_->log(), "vm \"web\" (");
    EXPECT_CONTAINS(agent_->log(), "its create was interrupted");
    EXPECT_TRUE(Api("GET", "/v1/vms").body["vms"].empty());
    std::error_code ec;
    EXPECT_TRUE(std::filesystem::is_empty(dir_ / "state/vms", ec) || ec) << "no VM directory left";
    ApiReply again = Create("web");
    EXPECT_EQ(again.status, 201) << again.body.dump();
    EXPECT_EQ(again.body["state"], "created");
    ASSERT_EQ(Api("DELETE", "/v1/vms/web").status, 200);
    agent_.reset();
  }
}

// What the host shows and the records do not say: a VM directory without a
// record, a record whose directory is gone, a VMM serving a socket of no
// record. Each is reported (log, vm ls, the API); none is removed or stopped.
TEST_F(LifecycleTest, WhatTheHostShowsAndNoRecordSaysIsReportedAndLeftAlone) {
  StartAgent();
  ASSERT_EQ(Create("kept").status, 201);
  ApiReply gone = Create("gone");
  ASSERT_EQ(gone.status, 201);
  const std::string gone_id = gone.body["id"];
  agent_.reset();  // SIGKILL: the agent is away while the host changes

  const std::string stray = std::string(32, 'e'), ghost = std::string(32, 'f');
  const std::string stray_dir = dir_ / ("state/vms/" + stray);
  std::filesystem::create_directories(stray_dir);
  testing::WriteFile(stray_dir + "/system.img", "x");
  std::filesystem::remove_all(dir_ / ("state/vms/" + gone_id));
  const std::string ghost_socket = dir_ / ("state/vms/" + ghost + "/firecracker.sock");
  std::filesystem::create_directories(dir_ / ("state/vms/" + ghost));
  testing::BackgroundProcess vmm({FC_SIM_PATH, "--api-sock", ghost_socket, "--id", ghost},
                                 dir_ / "ghost.log");
  ASSERT_TRUE(testing::WaitFor([&] { return std::filesystem::exists(ghost_socket); }));

  StartAgent();
  json orphans = Api("GET", "/v1/vms").body["orphans"];
  auto reported = [&](const std::string& kind, const std::string& id) {
    for (const auto& o : orphans) {
      if (o["kind"] == kind && o["id"] == id) return true;
    }
    return false;
  };
  EXPECT_TRUE(reported("directory without a record", stray)) << orphans.dump(2);
  EXPECT_TRUE(reported("record without a directory", gone_id)) << orphans.dump(2);
  EXPECT_TRUE(reported("VMM without a record", ghost)) << orphans.dump(2);
  EXPECT_EQ(orphans.size(), 4u) << "the ghost's directory too: " << orphans.dump(2);
  EXPECT_CONTAINS(agent_->log(), "directory without a record " + stray);
  EXPECT_CONTAINS(agent_->log(),
                  "VMM without a record " + ghost + ": pid " + std::to_string(vmm.pid()));
  auto ls = testing::RunCommand({BANGERCTL_PATH, "--socket", socket_, "vm", "ls"});
  EXPECT_CONTAINS(ls.output, "record without a directory " + gone_id);
  // Left as they were.
  EXPECT_TRUE(std::filesystem::exists(stray_dir + "/system.img"));
  EXPECT_EQ(::kill(vmm.pid(), 0), 0) << "the ghost VMM was stopped";
}

// A record that no longer decodes (its VM running): listed, shown with what
// the host shows, refused for a start and a plain rm, removed by rm --force
// with its VMM and its files; its name is held until then.
TEST_F(LifecycleTest, ACorruptRecordIsShownAndRemovableWithForce) {
  StartAgent();
  ApiReply web = Create("web");
  ASSERT_EQ(web.status, 201);
  const std::string id = web.body["id"];
  ASSERT_EQ(Api("POST", "/v1/vms/web/start").status, 200);
  const pid_t vmm = Api("GET", "/v1/vms/web").body["runtime"]["pid"].get<pid_t>();
  ASSERT_GT(vmm, 0);
  ASSERT_EQ(agent_->Stop(SIGTERM), 0);
  {
    MDB_env* env;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    ASSERT_EQ(mdb_env_open(env, (dir_ / "state/store").c_str(), 0, 0600), 0);
    MDB_txn* txn;
    MDB_dbi vms;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "vms", 0, &vms), 0);
    std::string junk = "\xc1 not a record";
    MDB_val k{id.size(), const_cast<char*>(id.data())}, v{junk.size(), junk.data()};
    ASSERT_EQ(mdb_put(txn, vms, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  StartAgent();
  json list = Api("GET", "/v1/vms").body;
  ASSERT_EQ(list["corrupt"].size(), 1u) << list.dump(2);
  EXPECT_EQ(list["corrupt"][0]["id"], id);
  for (const std::string& ref : {id, std::string("web"), id.substr(0, 8)}) {
    ApiReply shown = Api("GET", "/v1/vms/" + ref);
    EXPECT_EQ(shown.status, 200) << ref << ": " << shown.body.dump();
    EXPECT_EQ(shown.body["state"], "corrupt");
    EXPECT_CONTAINS(shown.body["error"].get<std::string>(), "vm record " + id);
    EXPECT_EQ(shown.body["vmm_pids"], json::array({vmm}));
  }
  auto ctl = testing::RunCommand({BANGERCTL_PATH, "--socket", socket_, "vm", "show", "web"});
  EXPECT_EQ(ctl.exit_code, 0) << ctl.output;
  EXPECT_CONTAINS(ctl.output, "corrupt");
  EXPECT_CONTAINS(ctl.output, "pid " + std::to_string(vmm));
  EXPECT_EQ(Create("web").status, 409) << "the name is held";
  ApiReply start = Api("POST", "/v1/vms/" + id + "/start");
  EXPECT_EQ(start.status, 409) << start.body.dump();
  EXPECT_CONTAINS(start.body["error"].get<std::string>(), "rm --force");
  EXPECT_EQ(Api("DELETE", "/v1/vms/web").status, 409);
  EXPECT_EQ(::kill(vmm, 0), 0) << "nothing was touched without --force";

  ApiReply removed = Api("DELETE", "/v1/vms/web?force=1");
  EXPECT_EQ(removed.status, 200) << removed.body.dump();
  EXPECT_TRUE(testing::WaitFor([&] { return ::kill(vmm, 0) != 0; })) << "its VMM was ended";
  EXPECT_FALSE(std::filesystem::exists(dir_ / ("state/vms/" + id)));
  EXPECT_TRUE(Api("GET", "/v1/vms").body["corrupt"].empty());
  EXPECT_EQ(Create("web").status, 201) << "the name is free again";
}

TEST_F(LifecycleTest, NamesAreUniqueAndValidated) {
  StartAgent();
  ASSERT_EQ(Create("web-1").status, 201);
  ApiReply again = Create("web-1");
  EXPECT_EQ(again.status, 409);
  EXPECT_CONTAINS(again.body["error"].get<std::string>(),
                  "vm \"web-1\": create: the name is taken by vm");
  ApiReply bad = Create("Web_1");
  EXPECT_EQ(bad.status, 400);
  EXPECT_CONTAINS(bad.body["error"].get<std::string>(), "'Web_1' is not a VM name");
  ApiReply no_rootfs =
      Api("POST", "/v1/vms",
          {{"name", "x"}, {"kernel", dir_ / "img/vmlinux"}, {"rootfs", dir_ / "img/nope"}});
  EXPECT_EQ(no_rootfs.status, 400);
  EXPECT_CONTAINS(no_rootfs.body["error"].get<std::string>(),
                  "rootfs " + (dir_ / "img/nope") + " cannot be read");
  EXPECT_EQ(Api("POST", "/v1/vms", {{"name", "x"}}).body["error"], "create: 'kernel' is required");
}

TEST_F(LifecycleTest, RemoveRefusesARunningVmUnlessForced) {
  StartAgent();
  ApiReply vm = Create("web-1");
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/start").status, 200);
  ApiReply refused = Api("DELETE", "/v1/vms/web-1");
  EXPECT_EQ(refused.status, 409);
  EXPECT_EQ(refused.body["error"],
            "vm \"web-1\" is running; stop it first, or rm --force to stop and remove it");
  ApiReply forced = Api("DELETE", "/v1/vms/web-1?force=1");
  EXPECT_EQ(forced.status, 200) << forced.body;
  EXPECT_TRUE(VmmsOfThisTest().empty());
  EXPECT_FALSE(std::filesystem::exists(dir_ / ("state/vms/" + vm.body["id"].get<std::string>())));
  EXPECT_CONTAINS(Log(), "recorder: hook cleanup web-1");
}

TEST_F(LifecycleTest, FiftyVmsStartedAndStoppedByEightClientsInParallel) {
  StartAgent();
  constexpr int kVms = 50, kClients = 8;
  for (int i = 0; i < kVms; ++i) ASSERT_EQ(Create("vm-" + std::to_string(i)).status, 201);
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = c; i < kVms; i += kClients) {
        std::string name = "vm-" + std::to_string(i);
        if (Api("POST", "/v1/vms/" + name + "/start").body.value("state", "") != "running")
          ++failures;
      }
      for (int i = c; i < kVms; i += kClients) {
        std::string name = "vm-" + std::to_string(i);
        if (Api("POST", "/v1/vms/" + name + "/stop").body.value("state", "") != "stopped")
          ++failures;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0);
  ApiReply all = Api("GET", "/v1/vms");
  ASSERT_EQ(all.body["vms"].size(), static_cast<size_t>(kVms));
  std::set<char> first_chars;
  std::string shared_prefix;
  for (const auto& vm : all.body["vms"]) {
    EXPECT_EQ(vm["state"], "stopped") << vm["name"];
    EXPECT_EQ(vm["runtime"]["pid"], 0);
    EXPECT_EQ(vm["last_error"], "");
    char c = vm["id"].get<std::string>()[0];
    if (!first_chars.insert(c).second) shared_prefix = std::string(1, c);
  }
  EXPECT_TRUE(all.body["corrupt"].empty());
  EXPECT_TRUE(VmmsOfThisTest().empty()) << "VMMs left running";
  // 50 random ids over 16 first characters: some share one. That prefix is
  // ambiguous and says which VMs it matches.
  ASSERT_FALSE(shared_prefix.empty());
  ApiReply ambiguous = Api("GET", "/v1/vms/" + shared_prefix);
  EXPECT_EQ(ambiguous.status, 409);
  EXPECT_CONTAINS(ambiguous.body["error"].get<std::string>(),
                  "'" + shared_prefix + "' is ambiguous");
}

}  // namespace
}  // namespace banger::core
