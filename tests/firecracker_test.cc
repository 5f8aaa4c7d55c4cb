// The Firecracker client and the VMM process against fc-sim: the boot
// sequence, bodies held to the API spec, every failure mode of a call,
// launch failures, stop escalation, kill, and rediscovery by start time.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/vmm/firecracker_client.h"
#include "core/vmm/vmm_process.h"
#include "tests/fc-sim/api_spec.h"
#include "tests/test_support.h"

namespace banger::core {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::TempDir;

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

class FirecrackerTest : public ::testing::Test {
 protected:
  FirecrackerTest() {
    testing::WriteFile(dir_ / "vmlinux", "not really a kernel");
    testing::WriteFile(dir_ / "rootfs.ext4", std::string(4096, '\0'));
  }
  ~FirecrackerTest() override {
    for (const auto& v : launched_) KillVmm(v);
  }

  VmmLaunchSpec Spec(std::vector<std::string> extra = {}) {
    VmmLaunchSpec s;
    s.binary = FC_SIM_PATH;
    s.extra_args = std::move(extra);
    s.id = "test-vm";
    s.api_socket = dir_ / "api.sock";
    s.vsock_path = dir_ / "vsock.sock";
    s.metrics_path = dir_ / "metrics.json";
    s.log_path = dir_ / "vmm.log";
    s.ready_timeout = 5s;
    return s;
  }

  ProcessIdentity Launch(std::vector<std::string> extra = {}) {
    auto v = LaunchVmm(Spec(std::move(extra)));
    EXPECT_TRUE(v.ok()) << v.status().message();
    if (!v.ok()) return {};
    launched_.push_back(*v);
    return *v;
  }

  void Boot(const FirecrackerClient& c) {
    ASSERT_TRUE(c.PutMachineConfig({2, 256, false}).ok());
    ASSERT_TRUE(c.PutBootSource({dir_ / "vmlinux", "console=ttyS0 reboot=k", ""}).ok());
    ASSERT_TRUE(c.PutDrive({"rootfs", dir_ / "rootfs.ext4", true, false}).ok());
    ASSERT_TRUE(c.PutVsock({3, dir_ / "vsock.sock"}).ok());
    ASSERT_TRUE(c.PutMetrics({dir_ / "metrics.json"}).ok());
    Status started = c.Act(FcAction::kInstanceStart);
    ASSERT_TRUE(started.ok()) << started.message();
  }

  TempDir dir_;
  std::vector<ProcessIdentity> launched_;
};

TEST_F(FirecrackerTest, FullBootSequenceAndPoliteStop) {
  ProcessIdentity vmm = Launch();
  ASSERT_GT(vmm.pid, 0);
  EXPECT_EQ(vmm.start_time, ProcessStartTime(vmm.pid).value_or(0));
  FirecrackerClient c(dir_ / "api.sock");
  auto before = c.GetInstanceInfo();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->state, "Not started");
  EXPECT_EQ(before->id, "test-vm");
  Boot(c);
  EXPECT_EQ(c.GetInstanceInfo()->state, "Running");
  ASSERT_TRUE(c.Act(FcAction::kFlushMetrics).ok());
  std::string metrics = testing::ReadFile(dir_ / "metrics.json");
  ASSERT_FALSE(metrics.empty());
  EXPECT_TRUE(json::parse(metrics.substr(0, metrics.find('\n'))).contains("put_api_requests"));

  auto stopped = StopVmm(vmm, dir_ / "api.sock", 5s);
  ASSERT_TRUE(stopped.ok()) << stopped.status().message();
  EXPECT_EQ(stopped->step, StopStep::kCtrlAltDel);
  EXPECT_FALSE(ProcessAlive(vmm));
}

TEST_F(FirecrackerTest, EveryBodyTheClientBuildsFollowsTheSpec) {
  const auto& spec = fcsim::ApiSpec::BuiltIn();
  auto check = [&](const char* def, const std::string& body) {
    auto bad = spec.Validate(def, json::parse(body));
    EXPECT_FALSE(bad.has_value()) << def << ": " << body << ": " << bad.value_or("");
  };
  check("BootSource", BootSourceBody({"/k", "", ""}));
  check("BootSource", BootSourceBody({"/k", "console=ttyS0", "/initrd"}));
  check("Drive", DriveBody({"rootfs", "/r", true, false}));
  check("Drive", DriveBody({"work", "/w", false, true}));
  check("NetworkInterface", NetworkInterfaceBody({"eth0", "bt0", ""}));
  check("NetworkInterface", NetworkInterfaceBody({"eth0", "bt0", "06:00:ac:10:00:02"}));
  check("Vsock", VsockBody({3, "/v.sock"}));
  check("Vsock", VsockBody({4294967295u, "/v.sock"}));
  check("MachineConfiguration", MachineConfigBody({1, 128, false}));
  check("MachineConfiguration", MachineConfigBody({32, 65536, true}));
  check("Metrics", MetricsBody({"/m"}));
  for (auto a : {FcAction::kInstanceStart, FcAction::kSendCtrlAltDel, FcAction::kFlushMetrics}) {
    check("InstanceActionInfo", ActionBody(a));
  }
  // The validator itself refuses what Firecracker refuses (so the checks above can fail).
  EXPECT_TRUE(spec.Validate("Drive", json{{"drive_id", "x"}}).has_value());
  EXPECT_TRUE(spec.Validate("Vsock", json{{"guest_cid", 2}, {"uds_path", "/v"}}).has_value());
  EXPECT_TRUE(
      spec.Validate("MachineConfiguration", json{{"vcpu_count", "2"}, {"mem_size_mib", 128}})
          .has_value());
}

TEST_F(FirecrackerTest, A400BecomesAnErrorWithTheFaultMessage) {
  Launch();
  FirecrackerClient c(dir_ / "api.sock");
  Status s = c.PutDrive({"rootfs", "/nonexistent/rootfs.ext4", true, false});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalid);
  EXPECT_EQ(s.message(),
            "firecracker PUT /drives/rootfs: Unable to create the block device: BackingFile(No "
            "such file or directory (os error 2), \"/nonexistent/rootfs.ext4\")");
}

TEST_F(FirecrackerTest, MissingSocket) {
  FirecrackerClient c(dir_ / "nothing.sock");
  auto r = c.GetInstanceInfo();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "firecracker GET /: no API socket at " + (dir_ / "nothing.sock") +
                                      " (is the VMM running?)");
}

TEST_F(FirecrackerTest, SocketNobodyListensOn) {
  // A socket file left by a dead VMM: connect is refused.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = dir_ / "dead.sock";
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);
  auto r = FirecrackerClient(path).GetInstanceInfo();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "firecracker GET /: connection refused on " + path + " (the VMM is not listening)");
}

TEST_F(FirecrackerTest, Timeout) {
  Launch({"--api-delay-ms", "1500"});
  FirecrackerClient slow(dir_ / "api.sock", 200ms);
  Status s = slow.PutMachineConfig({1, 128, false});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "firecracker PUT /machine-config: no reply within 200 ms");
}

TEST_F(FirecrackerTest, VmmKilledMidCall) {
  ProcessIdentity vmm = Launch({"--api-delay-ms", "3000"});
  std::thread killer([&] {
    std::this_thread::sleep_for(300ms);
    ::kill(vmm.pid, SIGKILL);
  });
  Status s = FirecrackerClient(dir_ / "api.sock", 10s).PutMachineConfig({1, 128, false});
  killer.join();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "firecracker PUT /machine-config: the VMM closed the connection mid-call (did it "
            "exit?)");
}

TEST_F(FirecrackerTest, LaunchRemovesStaleFilesAndStartsMetricsEmpty) {
  testing::WriteFile(dir_ / "api.sock", "stale");
  testing::WriteFile(dir_ / "vsock.sock", "stale");
  testing::WriteFile(dir_ / "metrics.json", "{\"old\": 1}\n");
  ProcessIdentity vmm = Launch();
  ASSERT_GT(vmm.pid, 0);
  EXPECT_EQ(testing::ReadFile(dir_ / "metrics.json"), "");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "vsock.sock"));
  EXPECT_TRUE(FirecrackerClient(dir_ / "api.sock").PutVsock({3, dir_ / "vsock.sock"}).ok());
}

TEST_F(FirecrackerTest, LaunchFailuresSayWhatHappened) {
  auto spec = Spec();
  spec.binary = "no-such-firecracker-binary";
  auto missing = LaunchVmm(spec);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "VMM binary 'no-such-firecracker-binary' is not in PATH; install Firecracker or set "
            "[core] vmm_binary");

  spec = Spec({"--no-such-flag"});
  auto exits = LaunchVmm(spec);
  ASSERT_FALSE(exits.ok());
  EXPECT_CONTAINS(exits.status().message(), "the VMM exited during start (exit status 1): ");
  EXPECT_CONTAINS(exits.status().message(),
                  "Arguments parsing error: Found argument '--no-such-flag' which wasn't expected");

  spec = Spec();
  spec.binary = dir_ / "silent-vmm";  // runs, never answers the API
  testing::WriteFile(spec.binary, "#!/bin/sh\nexec sleep 30\n");
  std::filesystem::permissions(spec.binary, std::filesystem::perms(0755));
  spec.ready_timeout = 300ms;
  auto silent = LaunchVmm(spec);
  ASSERT_FALSE(silent.ok());
  EXPECT_CONTAINS(silent.status().message(), "the VMM did not answer GET / within 300 ms");
}

TEST_F(FirecrackerTest, StopEscalatesWhenCtrlAltDelIsIgnored) {
  ProcessIdentity vmm = Launch({"--ignore-ctrl-alt-del"});
  FirecrackerClient c(dir_ / "api.sock");
  Boot(c);
  auto stopped = StopVmm(vmm, dir_ / "api.sock", 300ms);
  ASSERT_TRUE(stopped.ok()) << stopped.status().message();
  EXPECT_EQ(stopped->step, StopStep::kSigkill);
  EXPECT_EQ(stopped->detail, "no exit within 300 ms of SendCtrlAltDel");
  EXPECT_FALSE(ProcessAlive(vmm));
}

TEST_F(FirecrackerTest, StopOfAVmThatNeverBootedGoesStraightToSigkill) {
  ProcessIdentity vmm = Launch();
  auto stopped = StopVmm(vmm, dir_ / "api.sock", 10s);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->step, StopStep::kSigkill);
  EXPECT_CONTAINS(stopped->detail,
                  "SendCtrlAltDel failed: firecracker PUT /actions: The requested "
                  "operation is not supported before starting the microVM.");
}

TEST_F(FirecrackerTest, StopOfAGoneVmm) {
  ProcessIdentity vmm = Launch();
  ASSERT_TRUE(KillVmm(vmm).ok());
  auto stopped = StopVmm(vmm, dir_ / "api.sock", 1s);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->step, StopStep::kAlreadyGone);
}

TEST_F(FirecrackerTest, KillEndsIt) {
  ProcessIdentity vmm = Launch();
  ASSERT_TRUE(ProcessAlive(vmm));
  ASSERT_TRUE(KillVmm(vmm).ok());
  EXPECT_FALSE(ProcessAlive(vmm));
  EXPECT_TRUE(KillVmm(vmm).ok()) << "killing a gone VMM is not an error";
}

TEST_F(FirecrackerTest, AReusedPidIsNeverSignalled) {
  ProcessIdentity vmm = Launch();
  ProcessIdentity impostor{vmm.pid, vmm.start_time + 1};  // as if the PID had been reused
  auto stopped = StopVmm(impostor, dir_ / "api.sock", 1s);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->step, StopStep::kAlreadyGone);
  ASSERT_TRUE(KillVmm(impostor).ok());
  EXPECT_TRUE(ProcessAlive(vmm)) << "the process behind a reused PID was killed";
}

TEST_F(FirecrackerTest, RediscoveryByApiSocketAndStartTime) {
  ProcessIdentity vmm = Launch();
  auto found = FindProcessByApiSocket(dir_ / "api.sock", vmm.start_time);
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_EQ(found->pid, vmm.pid);

  auto reused = FindProcessByApiSocket(dir_ / "api.sock", vmm.start_time + 7);
  ASSERT_FALSE(reused.ok());
  EXPECT_EQ(reused.status().code(), StatusCode::kConflict);
  EXPECT_EQ(reused.status().message(),
            "pid " + std::to_string(vmm.pid) + " has api socket " + (dir_ / "api.sock") +
                " but started at " + std::to_string(vmm.start_time) + ", not at the recorded " +
                std::to_string(vmm.start_time + 7) +
                ": not the VMM that was recorded; refusing it");

  ASSERT_TRUE(KillVmm(vmm).ok());
  auto gone = FindProcessByApiSocket(dir_ / "api.sock", vmm.start_time);
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace banger::core
