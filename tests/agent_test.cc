// End to end: a real bangerd process with test capabilities, queried with
// bangerctl and curl; socket permissions with real uids; offline listing.
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/base/unix_http_client.h"
#include "tests/test_support.h"

namespace banger::core {
namespace {

using nlohmann::json;
using testing::AgentProcess;
using testing::CommandResult;
using testing::CopyPlugins;
using testing::RunCommand;
using testing::TempDir;

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

// Every test capability the agent can survive (crash-on-load would kill it,
// as it would kill any process that loads it).
const std::vector<std::string> kSurvivable = {
    "plain-c",       "needs-plain-c", "wrong-major", "newer-minor", "no-entry",
    "needs-missing", "cycle-a",       "cycle-b",     "init-error",  "init-skip",
    "after-error",   "recorder",      "thrower",     "raw-thrower"};

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() : socket_(dir_ / "run/bangerd.sock"), config_path_(dir_ / "bangerd.conf") {}

  void WriteConfig(const std::string& plugins_section, const std::string& extra_core = "") {
    testing::WriteFile(config_path_, "[core]\nstate_dir = " + (dir_ / "state") + "\nsocket = " +
                                         socket_ + "\nplugin_dirs = " + (dir_ / "plugins") + "\n" +
                                         extra_core + "\n" + plugins_section);
  }

  std::unique_ptr<AgentProcess> StartAgent() {
    auto agent = std::make_unique<AgentProcess>(
        std::vector<std::string>{"--config", config_path_, "--log-level", "debug"},
        dir_ / "agent.log");
    return agent;
  }

  CommandResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {BANGERCTL_PATH, "--socket", socket_});
    return RunCommand(args);
  }

  // Every survivable test capability plus a non-ELF and a group-writable file.
  void InstallAllPlugins() {
    CopyPlugins(dir_ / "plugins", kSurvivable);
    testing::WriteFile(dir_ / "plugins/not-elf.so", "not a shared object\n");
    ::chmod((dir_ / "plugins/not-elf.so").c_str(), 0644);
    std::filesystem::copy_file(testing::TestPluginPath("plain-c"),
                               dir_ / "plugins/group-writable.so");
    ::chmod((dir_ / "plugins/group-writable.so").c_str(), 0775);
  }

  TempDir dir_;
  std::string socket_, config_path_;
};

TEST_F(AgentTest, ListsEveryStatusAndSurvivesEveryBadPlugin) {
  InstallAllPlugins();
  std::string enable;
  for (const auto& n : kSurvivable) {
    if (n != "plain-c") enable += n + ",";  // plain-c stays disabled
  }
  WriteConfig("[plugins]\nenable = " + enable +
              "not-elf, group-writable\n[recorder]\ngreeting = hi\n");
  auto agent = StartAgent();
  ASSERT_TRUE(agent->WaitReady(socket_)) << agent->log();

  CommandResult table = Ctl({"caps"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_EQ(table.output.substr(0, table.output.find('\n')).find("NAME"), 0u);
  for (const char* col : {"VERSION", "ABI", "STATUS", "REQUIRES", "HOOKS", "PATH"}) {
    EXPECT_CONTAINS(table.output.substr(0, table.output.find('\n')), col);
  }
  EXPECT_CONTAINS(table.output, "recorder");
  EXPECT_CONTAINS(table.output, "1.2.3");
  EXPECT_CONTAINS(table.output, "init,prepare,cleanup,tick(50ms),query,shutdown,rediscover");

  CommandResult listing = Ctl({"caps", "--json"});
  ASSERT_EQ(listing.exit_code, 0) << listing.output;
  json j = json::parse(listing.output);
  std::map<std::string, std::string> status, abi;
  for (const auto& c : j["capabilities"]) {
    if (!status.count(c["name"])) status[c["name"]] = c["status_text"];
    if (!abi.count(c["name"])) abi[c["name"]] = c["abi"];
  }
  EXPECT_EQ(abi["recorder"], "1.2");     // it has validate_options
  EXPECT_EQ(abi["wrong-major"], "2.0");  // what the refused file was built for
  EXPECT_EQ(abi["newer-minor"], "1.7");
  EXPECT_EQ(status["recorder"], "ok");
  EXPECT_EQ(status["plain-c"], "disabled");
  EXPECT_CONTAINS(status["needs-plain-c"], "error: requires 'plain-c', which is not enabled");
  EXPECT_CONTAINS(status["wrong-major"], "error: built for capability ABI 2.0");
  EXPECT_CONTAINS(status["newer-minor"], "error: needs capability ABI 1.7 or later");
  EXPECT_CONTAINS(status["no-entry"], "error: no entry symbol");
  EXPECT_CONTAINS(status["needs-missing"], "error: requires 'nonexistent'");
  EXPECT_CONTAINS(status["cycle-a"], "error: dependency cycle");
  EXPECT_CONTAINS(status["init-error"], "error: init failed: cannot open /dev/banger-test");
  EXPECT_EQ(status["init-skip"], "skip: needs a kernel feature this host lacks");
  EXPECT_CONTAINS(status["after-error"], "error: requires 'init-error'");
  EXPECT_CONTAINS(status["thrower"], "error: init failed: unhandled exception");
  EXPECT_CONTAINS(status["raw-thrower"], "error: init failed: threw an exception");
  EXPECT_EQ(status["not-elf"], "error: not an ELF shared object");
  EXPECT_CONTAINS(status["group-writable"], "error: writable by group or others (mode 0775)");

  CommandResult one = Ctl({"caps", "recorder"});
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_CONTAINS(one.output, "description:  records its hook calls");
  EXPECT_CONTAINS(one.output, "verbs:        echo");
  EXPECT_CONTAINS(one.output, "greeting");
  EXPECT_CONTAINS(one.output, "what the echo verb answers");
  EXPECT_CONTAINS(one.output, "hook counters:");
  EXPECT_CONTAINS(one.output, "init");

  CommandResult failed = Ctl({"caps", "init-error"});
  EXPECT_CONTAINS(failed.output, "last error:   init: cannot open /dev/banger-test");

  CommandResult missing = Ctl({"caps", "nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.output, "bangerctl: no capability named 'nope' (bangerctl caps lists them)\n");

  EXPECT_EQ(::kill(agent->pid(), 0), 0) << "agent died";
  EXPECT_EQ(agent->Stop(SIGTERM), 0) << agent->log();
  EXPECT_FALSE(std::filesystem::exists(socket_)) << "socket left behind";
  std::string log = agent->log();
  EXPECT_CONTAINS(log, "recorder: hook shutdown");
  EXPECT_CONTAINS(log, "received SIGTERM, shutting down");
}

TEST_F(AgentTest, ShutdownHooksRunInReverseLoadOrderOnSigint) {
  CopyPlugins(dir_ / "plugins", {"plain-c", "needs-plain-c"});
  WriteConfig("[plugins]\nenable = needs-plain-c, plain-c\n");
  auto agent = StartAgent();
  ASSERT_TRUE(agent->WaitReady(socket_)) << agent->log();
  EXPECT_EQ(agent->Stop(SIGINT), 0);
  std::string log = agent->log();
  EXPECT_NE(log.find("needs-plain-c: hook shutdown"), std::string::npos) << log;
  EXPECT_LT(log.find("needs-plain-c: hook shutdown"), log.find(" plain-c: hook shutdown"));
}

TEST_F(AgentTest, FailedRequiredPluginStopsTheAgentWithTheReason) {
  CopyPlugins(dir_ / "plugins", {"init-error", "recorder"});
  WriteConfig("[plugins]\nenable = recorder\nrequired = init-error\n");
  auto agent = StartAgent();
  EXPECT_EQ(agent->WaitExit(std::chrono::seconds(20)), 1);
  EXPECT_CONTAINS(agent->log(),
                  "bangerd: cannot start: required capability not running: init-error: error: "
                  "init failed: cannot open /dev/banger-test: no such device");
  // What was initialised was shut down again.
  EXPECT_CONTAINS(agent->log(), "recorder: hook shutdown");
  EXPECT_FALSE(std::filesystem::exists(socket_));
}

TEST_F(AgentTest, ConfigErrorIsOneLineNamingKeyAndLine) {
  testing::WriteFile(config_path_, "[core]\nstate_dir = /tmp/x\nsokcet = /tmp/y\n");
  auto agent = StartAgent();
  EXPECT_EQ(agent->WaitExit(std::chrono::seconds(20)), 1);
  EXPECT_EQ(agent->log(),
            "bangerd: " + config_path_ +
                ":3: core.sokcet: unknown key; [core] takes state_dir, socket, "
                "socket_group, plugin_dirs, log_level, log_format, allow_plugin_symlinks, "
                "store_map_size_mib, vmm_binary, vmm_ready_timeout, "
                "vmm_stop_timeout, vmm_api_timeout, reconcile_interval, metrics_listen, "
                "image_dirs, jailer_binary, chroot_base, jailer_uids, cgroup_version, "
                "api_head_timeout, api_body_timeout, api_connections_per_uid, "
                "store_copy_interval, store_copies_keep, console_log_max, console_log_keep\n");
}

// An operator's damaged store, as the agent answers it: one line naming the
// file and what to do, exit 1, never a crash (LMDB alone maps a short file
// and dies of SIGBUS), never an agent serving no VMs. Nothing is changed.
TEST_F(AgentTest, ACutShortOrEmptiedStoreIsRefusedAtStartWithOneLine) {
  WriteConfig("");
  testing::WriteFile(dir_ / "vmlinux", "kernel");
  testing::WriteFile(dir_ / "rootfs", std::string(4096, 'r'));
  {
    auto agent = StartAgent();
    ASSERT_TRUE(agent->WaitReady(socket_)) << agent->log();
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(Ctl({"vm", "create", "web-" + std::to_string(i), "--kernel", dir_ / "vmlinux",
                     "--rootfs", dir_ / "rootfs"})
                    .exit_code,
                0);
    }
    ASSERT_EQ(agent->Stop(SIGTERM), 0);
  }
  const std::string data = dir_ / "state/store/data.mdb";
  std::filesystem::resize_file(data, 2 * ::sysconf(_SC_PAGESIZE));  // its meta pages only
  {
    auto agent = StartAgent();
    EXPECT_EQ(agent->WaitExit(std::chrono::seconds(20)), 1) << agent->log();
    EXPECT_CONTAINS(agent->log(),
                    "bangerd: cannot start: store file " + data + " is damaged: page");
    EXPECT_CONTAINS(agent->log(),
                    "the file was cut short; refusing to open it (nothing was changed");
  }
  std::filesystem::resize_file(data, 0);
  {
    auto agent = StartAgent();
    EXPECT_EQ(agent->WaitExit(std::chrono::seconds(20)), 1) << agent->log();
    EXPECT_CONTAINS(agent->log(), "store file " + data +
                                      " is empty (0 bytes), but a store was "
                                      "created here");
    EXPECT_CONTAINS(agent->log(), "refusing to start with no VMs");
  }
  EXPECT_EQ(std::filesystem::file_size(data), 0u);
}

TEST_F(AgentTest, FlagsOverrideTheFile) {
  WriteConfig("");
  std::string other = dir_ / "other.sock";
  AgentProcess agent({"--config", config_path_, "--socket", other}, dir_ / "agent.log");
  ASSERT_TRUE(agent.WaitReady(other)) << agent.log();
  EXPECT_FALSE(std::filesystem::exists(socket_));
  EXPECT_EQ(agent.Stop(SIGTERM), 0);
}

TEST_F(AgentTest, SecondAgentOnTheSameStateDirIsRefused) {
  WriteConfig("");
  auto first = StartAgent();
  ASSERT_TRUE(first->WaitReady(socket_));
  AgentProcess second({"--config", config_path_, "--socket", dir_ / "other.sock"},
                      dir_ / "second.log");
  EXPECT_EQ(second.WaitExit(std::chrono::seconds(20)), 1);
  EXPECT_CONTAINS(second.log(), "state dir " + (dir_ / "state") +
                                    " is in use by another agent: lock file " +
                                    (dir_ / "state/bangerd.lock") + " is held by pid " +
                                    std::to_string(first->pid()));
  EXPECT_EQ(Ctl({"caps"}).exit_code, 0);  // the first one still answers
}

TEST_F(AgentTest, SecondAgentOnALiveSocketIsRefused) {
  WriteConfig("");
  auto first = StartAgent();
  ASSERT_TRUE(first->WaitReady(socket_));
  AgentProcess second({"--config", config_path_, "--state-dir", dir_ / "state2"},
                      dir_ / "second.log");
  EXPECT_EQ(second.WaitExit(std::chrono::seconds(20)), 1);
  EXPECT_CONTAINS(second.log(), "is in use by another process");
  EXPECT_EQ(Ctl({"caps"}).exit_code, 0);
}

TEST_F(AgentTest, StaleSocketFromAKilledAgentIsReplaced) {
  WriteConfig("");
  auto first = StartAgent();
  ASSERT_TRUE(first->WaitReady(socket_));
  first->Stop(SIGKILL);
  ASSERT_TRUE(std::filesystem::exists(socket_));
  auto second = StartAgent();
  EXPECT_TRUE(second->WaitReady(socket_)) << second->log();
}

TEST_F(AgentTest, CurlCanUseTheSocket) {
  if (RunCommand({"curl", "--version"}).exit_code != 0) GTEST_SKIP() << "curl is not installed";
  CopyPlugins(dir_ / "plugins", {"recorder"});
  WriteConfig("[plugins]\nenable = recorder\n");
  auto agent = StartAgent();
  ASSERT_TRUE(agent->WaitReady(socket_));
  auto r = RunCommand(
      {"curl", "-sS", "--unix-socket", socket_, "http://localhost/v1/capabilities/recorder"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json::parse(r.output)["status"], "ok");
  auto missing = RunCommand({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                             "--unix-socket", socket_, "http://localhost/v1/nothing"});
  EXPECT_EQ(missing.output, "404");
}

TEST_F(AgentTest, BangerctlFindsTheSocketFromTheEnvironment) {
  WriteConfig("");
  auto agent = StartAgent();
  ASSERT_TRUE(agent->WaitReady(socket_));
  auto r = RunCommand({"env", "BANGER_SOCKET=" + socket_, BANGERCTL_PATH, "caps"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

// A capability that crashes its loader is the point of some tests: under a
// sanitizer (tools/dev/sanitize.sh) the child would report the crash and
// exit 1 instead of dying of the signal that the tests expect.
void LetLoadersDieOfTheirSignal() {
  for (const char* var : {"ASAN_OPTIONS", "TSAN_OPTIONS"}) {
    std::string options = std::getenv(var) ? std::getenv(var) : "";
    if (options.find("handle_segv=0") == std::string::npos) {
      ::setenv(var, (options + ":handle_segv=0").c_str(), 1);
    }
  }
}

TEST(BangerctlTest, ExitCodesAndOneLineErrors) {
  auto no_agent = RunCommand({BANGERCTL_PATH, "--socket", "/tmp/banger-no-such.sock", "caps"});
  EXPECT_EQ(no_agent.exit_code, 1);
  EXPECT_EQ(no_agent.output,
            "bangerctl: cannot reach bangerd: no socket at /tmp/banger-no-such.sock; is bangerd "
            "running? (set --socket or BANGER_SOCKET)\n");
  EXPECT_EQ(RunCommand({BANGERCTL_PATH}).exit_code, 2);
  EXPECT_EQ(RunCommand({BANGERCTL_PATH, "frobnicate"}).exit_code, 2);
  EXPECT_EQ(RunCommand({BANGERCTL_PATH, "caps", "--bogus"}).exit_code, 2);
  EXPECT_EQ(RunCommand({BANGERCTL_PATH, "caps", "--offline"}).exit_code, 2);
  EXPECT_EQ(RunCommand({BANGERCTL_PATH, "--help"}).exit_code, 0);
}

TEST_F(AgentTest, OfflineListingSurvivesACrashingPlugin) {
  InstallAllPlugins();
  CopyPlugins(dir_ / "plugins", {"crash-on-load"});
  WriteConfig("[plugins]\nenable = recorder, crash-on-load, init-error\n");
  LetLoadersDieOfTheirSignal();
  auto r = RunCommand({BANGERCTL_PATH, "caps", "--config", config_path_, "--offline", "--json"});
  EXPECT_EQ(r.exit_code, 1) << "an enabled capability (crash-on-load) would not run";
  json j = json::parse(r.output);
  EXPECT_TRUE(j["offline"].get<bool>());
  std::map<std::string, std::string> status;
  for (const auto& c : j["capabilities"]) status[c["name"]] = c["status_text"];
  EXPECT_CONTAINS(status["crash-on-load"],
                  "error: crashed the loader while loading (signal 11 (Segmentation fault))");
  EXPECT_EQ(status["recorder"], "loaded");    // init is not run offline
  EXPECT_EQ(status["init-error"], "loaded");  // so its init failure cannot show
  EXPECT_EQ(status["plain-c"], "disabled");
  EXPECT_CONTAINS(status["wrong-major"], "error: built for capability ABI 2.0");

  auto table = RunCommand({BANGERCTL_PATH, "caps", "--config", config_path_, "--offline"});
  EXPECT_EQ(table.exit_code, 1);
  EXPECT_CONTAINS(table.output, "bangerctl: an enabled capability would not run (see above)");
  EXPECT_CONTAINS(table.output, "(offline: files loaded and checked; init was not run");

  auto one =
      RunCommand({BANGERCTL_PATH, "caps", "recorder", "--config", config_path_, "--offline"});
  EXPECT_EQ(one.exit_code, 0) << one.output;
  EXPECT_CONTAINS(one.output, "greeting");

  auto bad = RunCommand({BANGERCTL_PATH, "caps", "--config", dir_ / "missing.conf", "--offline"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_CONTAINS(bad.output, "bangerctl: cannot read config file");
}

// bangerd --check-config and bangerctl caps --offline are checks: they load
// every enabled capability's file (no init) and fail when one would not run.
TEST_F(AgentTest, CheckConfigAndOfflineCapsFailWhenAnEnabledCapabilityWouldNotRun) {
  CopyPlugins(dir_ / "plugins", {"recorder", "newer-minor"});
  WriteConfig("[plugins]\nenable = recorder\n");
  auto good = RunCommand({BANGERD_PATH, "--config", config_path_, "--check-config"});
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_CONTAINS(good.output, "ok    recorder: loads from " + (dir_ / "plugins/recorder.so"));
  WriteConfig("[plugins]\nenable = recorder, newer-minor\n[recorder]\ncolour = red\n");
  auto bad = RunCommand({BANGERD_PATH, "--config", config_path_, "--check-config"});
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_CONTAINS(bad.output, "error recorder: error: config error: " + config_path_ + ":");
  EXPECT_CONTAINS(bad.output, ": [recorder] colour: unknown key; it takes: greeting");
  EXPECT_CONTAINS(bad.output, "error newer-minor: error: needs capability ABI 1.7 or later");
  EXPECT_CONTAINS(bad.output, "bangerd: --check-config: an enabled capability would not run");
  // --plugin-dir replaces the config's dirs: an empty one has no recorder.
  std::filesystem::create_directories(dir_ / "empty");
  WriteConfig("[plugins]\nenable = recorder\n");
  EXPECT_EQ(RunCommand({BANGERCTL_PATH, "caps", "--config", config_path_, "--offline"}).exit_code,
            0);
  auto elsewhere = RunCommand({BANGERCTL_PATH, "caps", "--config", config_path_, "--offline",
                               "--plugin-dir", dir_ / "empty"});
  EXPECT_EQ(elsewhere.exit_code, 1) << elsewhere.output;
}

// bangerctl plugin check: one line per check, exit 1 when the agent would
// not load the file; a crash while loading is caught in the child.
TEST_F(AgentTest, PluginCheckSaysWhatIsRightAndWrongWithAFile) {
  CopyPlugins(dir_ / "plugins", {"recorder", "needs-plain-c", "newer-minor", "crash-on-load"});
  auto good = RunCommand({BANGERCTL_PATH, "plugin", "check", dir_ / "plugins/recorder.so"});
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_CONTAINS(good.output, "ok    entry: banger_capability_entry is exported\n");
  EXPECT_CONTAINS(good.output, "ok    exports: nothing else is exported\n");
  EXPECT_CONTAINS(good.output,
                  "ok    descriptor: \"recorder\" 1.2.3 (records its hook calls), "
                  "needs ABI 1.2");
  EXPECT_CONTAINS(good.output, "ok    config keys: greeting, cleanup_delay_ms\n");

  auto newer = RunCommand({BANGERCTL_PATH, "plugin", "check", dir_ / "plugins/newer-minor.so"});
  EXPECT_EQ(newer.exit_code, 1) << newer.output;
  EXPECT_CONTAINS(newer.output, "FAIL  descriptor: needs capability ABI 1.7 or later");

  std::filesystem::create_directories(dir_ / "deps");
  auto deps = RunCommand({BANGERCTL_PATH, "plugin", "check", dir_ / "plugins/needs-plain-c.so",
                          "--plugin-dir", dir_ / "deps"});
  EXPECT_EQ(deps.exit_code, 1) << deps.output;
  EXPECT_CONTAINS(deps.output, "FAIL  dependency plain-c: no plugin dir given has it");

  ::chmod((dir_ / "plugins/recorder.so").c_str(), 0666);
  auto writable = RunCommand({BANGERCTL_PATH, "plugin", "check", dir_ / "plugins/recorder.so"});
  EXPECT_EQ(writable.exit_code, 1);
  EXPECT_CONTAINS(writable.output, "FAIL  file: ");

  LetLoadersDieOfTheirSignal();
  auto crash = RunCommand({BANGERCTL_PATH, "plugin", "check", dir_ / "plugins/crash-on-load.so"});
  EXPECT_EQ(crash.exit_code, 1);
  EXPECT_CONTAINS(crash.output, "FAIL  load: the check died of signal 11");
}

// ---- socket permissions: real processes with other uids ----

// Connects as uid/gid in a forked child; returns the HTTP status, or -1 when
// the connection itself was refused by file permissions.
int StatusAs(const std::string& socket, uid_t uid, gid_t gid) {
  auto sent = testing::ExchangeAsUser(
      uid, gid, socket, {testing::Request(testing::HttpRequestBytes("GET", "/v1/capabilities"))});
  if (sent[0].connect_errno == EACCES) return -1;
  if (sent[0].connect_errno != 0) return 1000;
  int status = testing::ReplyStatus(sent[0].reply);
  return status == 200 || status == 403 ? status : 1000 + status;
}

TEST_F(AgentTest, SocketPermissionsRefuseOtherUids) {
  if (!testing::IsRoot()) GTEST_SKIP() << "needs root to act as other uids";
  ::chmod(dir_.path().c_str(), 0755);
  WriteConfig("");
  auto agent = StartAgent();
  ASSERT_TRUE(agent->WaitReady(socket_));
  ::chmod((dir_ / "run").c_str(), 0755);
  struct stat st;
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  EXPECT_EQ(StatusAs(socket_, 0, 0), 200);
  // Mode 0660 keeps an unrelated uid out at the file system...
  EXPECT_EQ(StatusAs(socket_, 65534, 65534), -1);
  // ...and were the mode ever wider, the peer check still refuses it.
  ::chmod(socket_.c_str(), 0666);
  EXPECT_EQ(StatusAs(socket_, 65534, 65534), 403);
  EXPECT_TRUE(testing::WaitFor(
      [&] { return agent->log().find("refused peer uid 65534") != std::string::npos; }));
}

TEST_F(AgentTest, SocketGroupMembersAreAllowed) {
  if (!testing::IsRoot()) GTEST_SKIP() << "needs root to act as other uids";
  struct group* g = ::getgrnam("nogroup");
  if (g == nullptr) GTEST_SKIP() << "no 'nogroup' group on this host";
  gid_t nogroup = g->gr_gid;
  ::chmod(dir_.path().c_str(), 0755);
  WriteConfig("", "socket_group = nogroup");
  auto agent = StartAgent();
  ASSERT_TRUE(agent->WaitReady(socket_)) << agent->log();
  ::chmod((dir_ / "run").c_str(), 0755);
  struct stat st;
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, nogroup);
  EXPECT_EQ(StatusAs(socket_, 65534, nogroup), 200);
  gid_t other = nogroup == 100 ? 101 : 100;
  ::chmod(socket_.c_str(), 0666);
  EXPECT_EQ(StatusAs(socket_, 65534, other), 403);
}

}  // namespace
}  // namespace banger::core
