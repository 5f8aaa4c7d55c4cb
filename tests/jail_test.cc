// Jailed VMMs end to end: a real bangerd (in a network namespace of the
// test's own, entered with nsenter so the host's cgroup mounts stay in
// view) with jailer-sim as [core] jailer_binary, fc-sim as the VMM, and the
// tap and stats capabilities. Checked from the outside: the VMM's uid, its
// root, its cgroups and their limits, the TAP's owner, the figures read
// from the cgroup; then that stop, kill -9 of the agent, a VMM that died
// while the agent was away, and rm leave no process, jail, cgroup or link.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/base/unix_http_client.h"
#include "core/vmm/jail.h"
#include "core/vmm/process_identity.h"
#include "tests/test_support.h"

namespace banger::core {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using testing::TempDir;

constexpr uint32_t kFirstUid = 910000;

std::string Field(const std::string& proc_file, const std::string& key) {
  std::ifstream in(proc_file);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) == 0) return line.substr(key.size());
  }
  return "";
}

bool SameFile(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

// Every cgroup directory named banger/<id> in any hierarchy.
std::vector<std::string> CgroupsOf(const std::string& id) {
  std::vector<std::string> out;
  for (const auto& m : CgroupMounts()) {
    std::string dir = m.dir + "/banger/" + id;
    if (std::filesystem::exists(dir)) out.push_back(dir);
  }
  return out;
}

class JailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::IsRoot()) GTEST_SKIP() << "needs root: chroot, cgroups, uids, namespaces";
    auto version = DetectCgroupVersion(CgroupMounts());
    // Not skipped quietly where it should run: CI's machine has them.
    ASSERT_TRUE(version.ok()) << version.status().message();
    ASSERT_TRUE(ns_.ok());
    std::filesystem::create_directories(dir_ / "plugins");
    for (const char* p : {"tap", "stats"}) {
      std::filesystem::copy_file(std::string(BANGER_PLUGIN_DIR) + "/" + p + ".so",
                                 dir_ / (std::string("plugins/") + p + ".so"));
    }
    testing::WriteFile(dir_ / "vmlinux", "kernel");
    testing::WriteFile(dir_ / "rootfs", std::string(8192, 'r'));
    testing::WriteFile(
        dir_ / "bangerd.conf",
        "[core]\nstate_dir = " + (dir_ / "state") + "\nsocket = " + socket_ +
            "\nplugin_dirs = " + (dir_ / "plugins") + "\nvmm_binary = " + FC_SIM_PATH +
            "\njailer_binary = " + JAILER_SIM_PATH + "\nchroot_base = " + (dir_ / "jail") +
            "\njailer_uids = " + std::to_string(kFirstUid) + "-" + std::to_string(kFirstUid + 99) +
            "\n[plugins]\nenable = tap, stats\n[tap]\npool_size = 2\n"
            "cidr = 10.201.0.0/24\n[stats]\ninterval = 100ms\n");
  }
  void TearDown() override {
    if (agent_) agent_->Stop(SIGKILL);
    // Whatever a failed test left: no VMM outlives it.
    for (const auto& [socket, procs] : ScanApiSocketProcesses(dir_ / "jail")) {
      if (socket.rfind(dir_.path(), 0) == 0) {
        for (const auto& p : procs) ::kill(p.pid, SIGKILL);
      }
    }
  }
  void StartAgent(const std::string& log) {
    agent_ = std::make_unique<testing::AgentProcess>(
        std::vector<std::string>{"nsenter", "--net=/run/netns/" + ns_.name(), BANGERD_PATH,
                                 "--config", dir_ / "bangerd.conf"},
        dir_ / log, /*raw=*/true);
    ASSERT_TRUE(agent_->WaitReady(socket_)) << agent_->log();
  }
  json Api(const std::string& method, const std::string& path, const json& body = nullptr) {
    auto r = UnixHttpCall(socket_, method, path, body.is_null() ? "" : body.dump(), 60s);
    return r.ok() ? json::parse(r.reply.body, nullptr, false) : json{{"error", r.error}};
  }
  json CreateAndStart(const std::string& name) {
    json made = Api("POST", "/v1/vms",
                    {{"name", name},
                     {"kernel", dir_ / "vmlinux"},
                     {"rootfs", dir_ / "rootfs"},
                     {"work_disk_bytes", 1 << 20}});
    EXPECT_EQ(made.value("state", ""), "created") << made;
    return Api("POST", "/v1/vms/" + name + "/start");
  }
  std::string TapOwner(const std::string& tap) {
    auto r = ns_.Run({"cat", "/sys/class/net/" + tap + "/owner"});
    return r.output.substr(0, r.output.find('\n'));
  }
  // Nothing of the VM is left: no VMM, jail, cgroup, or VM directory.
  void ExpectNothingLeftOf(const std::string& id) {
    EXPECT_FALSE(std::filesystem::exists(dir_ / ("jail/fc-sim/" + id))) << "jail left";
    EXPECT_TRUE(CgroupsOf(id).empty()) << "cgroup left: " << CgroupsOf(id).front();
    for (const auto& [socket, procs] : ScanApiSocketProcesses(dir_ / "jail")) {
      EXPECT_EQ(socket.find(id), std::string::npos) << "VMM left running: " << socket;
    }
  }

  TempDir dir_;
  testing::NetNamespace ns_;
  std::string socket_ = dir_ / "b.sock";
  std::unique_ptr<testing::AgentProcess> agent_;
};

TEST_F(JailTest, VmmRunsAsItsOwnUserInItsChrootAndCgroupAndLeavesNothingBehind) {
  StartAgent("agent.log");
  json vm = CreateAndStart("jailed");
  ASSERT_EQ(vm.value("state", ""), "running") << vm << agent_->log();
  const std::string id = vm["id"];
  const json& rt = vm["runtime"];
  const pid_t pid = rt["pid"].get<pid_t>();
  const uint32_t uid = rt["vmm_uid"].get<uint32_t>();
  EXPECT_GE(uid, kFirstUid);
  EXPECT_LE(uid, kFirstUid + 99);
  const std::string root = dir_ / ("jail/fc-sim/" + id + "/root");
  EXPECT_EQ(rt["jail_root"], root);
  EXPECT_EQ(rt["api_socket"], root + "/api.sock");

  // Its user, its root, its cgroups (sized from 1 vCPU and 128 MiB).
  const std::string proc = "/proc/" + std::to_string(pid);
  std::string uids = Field(proc + "/status", "Uid:\t");
  EXPECT_EQ(uids.substr(0, uids.find('\t')), std::to_string(uid)) << uids;
  std::string gids = Field(proc + "/status", "Gid:\t");
  EXPECT_EQ(gids.substr(0, gids.find('\t')), std::to_string(uid)) << gids;
  EXPECT_EQ(Field(proc + "/status", "Groups:\t").find_first_not_of(' '), std::string::npos)
      << "supplementary groups kept";
  EXPECT_TRUE(SameFile(proc + "/root", root)) << "not chrooted in its jail";
  EXPECT_EQ(Field(proc + "/status", "NSpid:\t"), std::to_string(pid) + "\t1")
      << "not init of a PID namespace of its own";
  std::string cgroups = testing::ReadFile(proc + "/cgroup");
  EXPECT_NE(cgroups.find("/banger/" + id), std::string::npos) << cgroups;
  auto dirs =
      CgroupDirsFor(CgroupMounts(), DetectCgroupVersion(CgroupMounts()).value(), "banger/" + id);
  EXPECT_EQ(rt["cgroup_memory_dir"], dirs.memory);
  std::string limit = testing::ReadFile(
      dirs.memory + (dirs.memory == dirs.cpu ? "/memory.max" : "/memory.limit_in_bytes"));
  EXPECT_EQ(std::stoull(limit), (128ull + 64) << 20);
  // Only its own files in the jail, and the disks are the VM's (hard links).
  for (const char* f : {"vmlinux", "system.img", "work.img", "metrics", "api.sock", "fc-sim"}) {
    EXPECT_TRUE(std::filesystem::exists(root + "/" + f)) << f;
  }
  EXPECT_TRUE(SameFile(root + "/system.img", dir_ / ("state/vms/" + id + "/system.img")));
  struct stat st;
  ASSERT_EQ(::stat((root + "/work.img").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid);
  ASSERT_EQ(::stat((dir_ / ("jail/fc-sim/" + id)).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "the jail's directory is reachable by others";

  // The TAP is the VMM's: fc-sim, unprivileged, attached to it (the start
  // would have failed otherwise).
  const std::string tap = vm["handles"]["tap"]["tap_name"];
  EXPECT_EQ(TapOwner(tap), std::to_string(uid));

  // Figures from the cgroup: memory in use, and no VSZ (not read there).
  ASSERT_TRUE(testing::WaitFor([&] {
    json s = Api("GET", "/v1/vms/jailed")["stats"]["values"];
    return s.is_object() && s.value("rss_bytes", 0.0) > 0;
  }));
  json values = Api("GET", "/v1/vms/jailed")["stats"]["values"];
  EXPECT_EQ(values.value("vsz_bytes", -1.0), 0.0) << values;

  // Stopped: the jail and the cgroups go. The TAP, back in the pool, stays
  // its uid's: nothing runs as that uid now, and the next VMM of that uid
  // takes this device first (so a uid never owns two).
  json stopped = Api("POST", "/v1/vms/jailed/stop");
  EXPECT_EQ(stopped.value("state", ""), "stopped") << stopped;
  ExpectNothingLeftOf(id);
  EXPECT_EQ(TapOwner(tap), std::to_string(uid));

  // Started again (the same uid, the same device), the agent killed,
  // started again: re-adopted as it was.
  json again = Api("POST", "/v1/vms/jailed/start");
  ASSERT_EQ(again.value("state", ""), "running") << again;
  EXPECT_EQ(again["handles"]["tap"]["tap_name"], tap);
  EXPECT_EQ(TapOwner(tap), std::to_string(again["runtime"]["vmm_uid"].get<uint32_t>()));
  agent_->Stop(SIGKILL);
  StartAgent("agent2.log");
  json adopted = Api("GET", "/v1/vms/jailed");
  EXPECT_EQ(adopted["state"], "running") << adopted;
  EXPECT_EQ(adopted["runtime"]["pid"], again["runtime"]["pid"]);

  // rm --force: nothing of it anywhere.
  json removed = Api("DELETE", "/v1/vms/jailed?force=1");
  EXPECT_FALSE(removed.contains("error")) << removed;
  ExpectNothingLeftOf(id);
  EXPECT_FALSE(std::filesystem::exists(dir_ / ("state/vms/" + id)));
  EXPECT_EQ(ns_.Run({"ip", "-4", "addr", "show", "dev", tap}).output.find("inet"),
            std::string::npos)
      << "the TAP kept its address";
}

TEST_F(JailTest, JailOfAVmmThatDiedWhileTheAgentWasDownIsTakenDownAtStart) {
  StartAgent("agent.log");
  json vm = CreateAndStart("dies");
  ASSERT_EQ(vm.value("state", ""), "running") << vm << agent_->log();
  const std::string id = vm["id"];
  agent_->Stop(SIGKILL);
  const pid_t pid = vm["runtime"]["pid"].get<pid_t>();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(
      testing::WaitFor([&] { return !std::filesystem::exists("/proc/" + std::to_string(pid)); }));
  StartAgent("agent2.log");
  json after = Api("GET", "/v1/vms/dies");
  EXPECT_EQ(after["state"], "stopped") << after;
  ExpectNothingLeftOf(id);
}

TEST_F(JailTest, AJailerThatFailsFailsTheStartAndLeavesNothing) {
  // An exec file that cannot run alone in an empty root (a script: no
  // /bin/sh in the jail): the jail is built, the exec fails, the start fails
  // and takes the jail and the cgroups down with it.
  StartAgent("agent.log");
  testing::WriteFile(dir_ / "not-a-vmm", "#!/bin/sh\nexit 3\n");
  ::chmod((dir_ / "not-a-vmm").c_str(), 0755);
  json made = Api("POST", "/v1/vms",
                  {{"name", "broken"}, {"kernel", dir_ / "vmlinux"}, {"rootfs", dir_ / "rootfs"}});
  ASSERT_EQ(made.value("state", ""), "created") << made;
  agent_->Stop(SIGTERM);
  std::string conf = testing::ReadFile(dir_ / "bangerd.conf");
  conf.replace(conf.find(FC_SIM_PATH), std::string(FC_SIM_PATH).size(), dir_ / "not-a-vmm");
  testing::WriteFile(dir_ / "bangerd.conf", conf);
  StartAgent("agent2.log");
  json failed = Api("POST", "/v1/vms/broken/start");
  EXPECT_EQ(failed.value("state", "error"), "error") << failed;
  json after = Api("GET", "/v1/vms/broken");
  EXPECT_EQ(after["state"], "error") << after;
  EXPECT_NE(after.value("last_error", "").find("in the jail"), std::string::npos) << after;
  const std::string id = after["id"];
  EXPECT_FALSE(std::filesystem::exists(dir_ / ("jail/not-a-vmm/" + id))) << "jail left";
  EXPECT_TRUE(CgroupsOf(id).empty());
}

// The jail's root is the VMM's: a compromised VMM may put anything there.
// A FIFO as its metrics file used to block the stats tick (and every stats
// verb) for good; a symlink as its API socket made root connect wherever it
// pointed. Both are refused now, and the agent keeps serving.
TEST_F(JailTest, WhatACompromisedVmmPutsInItsRootIsNotFollowed) {
  StartAgent("agent.log");
  json vm = CreateAndStart("owned");
  ASSERT_EQ(vm.value("state", ""), "running") << vm << agent_->log();
  const std::string root = vm["runtime"]["jail_root"];
  agent_->Stop(SIGKILL);
  ASSERT_EQ(::unlink((root + "/metrics").c_str()), 0);
  ASSERT_EQ(::mkfifo((root + "/metrics").c_str(), 0600), 0);
  StartAgent("agent2.log");
  ASSERT_EQ(Api("GET", "/v1/vms/owned")["state"], "running") << "not re-adopted";
  // The stats verb opens the metrics file: it answers, without its figures.
  auto r = UnixHttpCall(socket_, "POST", "/v1/vms/owned/stats", "", 10s);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.reply.status, 200) << r.reply.body;
  EXPECT_EQ(json::parse(r.reply.body).value("fc_metrics_lines_total", -1.0), 0.0) << r.reply.body;

  // The API socket swapped for a link to the agent's own socket.
  ASSERT_EQ(::unlink((root + "/api.sock").c_str()), 0);
  ASSERT_EQ(::symlink(socket_.c_str(), (root + "/api.sock").c_str()), 0);
  json stopped = Api("POST", "/v1/vms/owned/stop");
  EXPECT_EQ(stopped.value("state", ""), "stopped") << stopped;
  // The polite stop could not be asked through the link: it escalated.
  std::string ops = Api("GET", "/v1/operations").dump();
  EXPECT_NE(ops.find("api.sock is a symbolic link; refusing it"), std::string::npos) << ops;
  ExpectNothingLeftOf(vm["id"]);
  EXPECT_EQ(Api("GET", "/v1/vms").contains("vms"), true) << "the agent stopped serving";
}

TEST(JailerSimTest, RefusesWhatTheJailerRefuses) {
  auto run = [](std::vector<std::string> args) {
    args.insert(args.begin(), JAILER_SIM_PATH);
    return testing::RunCommand(args);
  };
  auto r = run({"--id", "../x", "--exec-file", FC_SIM_PATH, "--uid", "1", "--gid", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--id may hold only alphanumerics and hyphens"), std::string::npos)
      << r.output;
  r = run({"--id", "a", "--exec-file", FC_SIM_PATH});
  EXPECT_NE(r.output.find("--id, --exec-file, --uid and --gid are required"), std::string::npos);
  r = run({"--id", std::string(65, 'a'), "--exec-file", FC_SIM_PATH, "--uid", "1", "--gid", "1"});
  EXPECT_NE(r.output.find("longer than 64"), std::string::npos) << r.output;
  r = run({"--id", "a", "--exec-file", "/nonexistent", "--uid", "1", "--gid", "1"});
  EXPECT_NE(r.output.find("--exec-file /nonexistent: No such file"), std::string::npos);
  r = run({"--id", "a", "--exec-file", FC_SIM_PATH, "--uid", "1", "--gid", "1", "--resource-limit",
           "cpu=1"});
  EXPECT_NE(r.output.find("unknown resource 'cpu'"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace banger::core
