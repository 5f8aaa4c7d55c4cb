// bangerd as a service: the sd_notify protocol as systemd's Type=notify and
// WatchdogSec= see it (a datagram socket this test reads, no systemd), and
// [core] log_format = json as journald and log shippers read it.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <poll.h>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

#include "tests/agent_fixture.h"

namespace banger::core {
namespace {

using nlohmann::json;

// The service manager's end: a datagram socket at `path` (or "@name").
class NotifyReceiver {
 public:
  explicit NotifyReceiver(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    if (path[0] == '@') addr.sun_path[0] = '\0';
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr),
                    static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size())) == 0;
  }
  ~NotifyReceiver() { ::close(fd_); }
  bool bound() const { return bound_; }

  // The next datagram, or nullopt after `timeout`.
  std::optional<std::string> Next(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    seen_.emplace_back(buf, static_cast<size_t>(n));
    return seen_.back();
  }
  // Datagrams until one contains `what` (returned), or nullopt.
  std::optional<std::string> Until(const std::string& what) {
    while (auto m = Next()) {
      if (m->find(what) != std::string::npos) return m;
    }
    return std::nullopt;
  }
  // How many of the datagrams received so far contain `what`.
  size_t Count(const std::string& what) const {
    return static_cast<size_t>(std::count_if(seen_.begin(), seen_.end(), [&](const std::string& m) {
      return m.find(what) != std::string::npos;
    }));
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
  std::vector<std::string> seen_;
};

// The environment a service manager gives, for the next process started.
class ServiceEnvironment {
 public:
  ServiceEnvironment(const std::string& socket, const std::string& watchdog_usec) {
    ::setenv("NOTIFY_SOCKET", socket.c_str(), 1);
    if (!watchdog_usec.empty()) ::setenv("WATCHDOG_USEC", watchdog_usec.c_str(), 1);
  }
  ~ServiceEnvironment() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
  }
};

std::string Environ(int64_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ServiceTest : public testing::AgentFixture {};

// READY=1 means what systemd's ordering relies on: capabilities are
// initialised, reconcile has run (a VM whose VMM died while the agent was
// away is already stopped) and the socket answers. Then WATCHDOG=1 keeps
// coming, no child inherits the variables, and SIGTERM says STOPPING=1.
TEST_F(ServiceTest, ReadyOnlyOnceReconciledAndServingThenWatchdogThenStopping) {
  InstallCapabilities({"recorder"}, {});
  WriteConfig("vmm_binary = " + std::string(FC_SIM_PATH), "[plugins]\nenable = recorder\n");
  StartAgent("first.log");
  CreateVm("web-1");
  CreateVm("web-2");
  json vm = Api("POST", "/v1/vms/web-1/start");
  ASSERT_EQ(vm["state"], "running") << vm;
  // The agent goes away at the worst moment, and the VMM dies meanwhile.
  agent_->Stop(SIGKILL);
  ASSERT_EQ(::kill(static_cast<pid_t>(vm["runtime"]["pid"].get<int64_t>()), SIGKILL), 0);

  NotifyReceiver manager(dir_ / "notify.sock");
  ASSERT_TRUE(manager.bound());
  {
    ServiceEnvironment env(dir_ / "notify.sock", "300000");  // WatchdogSec=300ms
    agent_ = std::make_unique<testing::AgentProcess>(
        std::vector<std::string>{"--config", dir_ / "bangerd.conf"}, dir_ / "second.log");
  }
  auto ready = manager.Until("READY=1");
  ASSERT_TRUE(ready) << agent_->log();
  // At READY=1, at once: the socket serves and reconcile has run.
  auto r = UnixHttpCall(socket_, "GET", "/v1/vms/web-1", "", std::chrono::seconds(2));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(json::parse(r.reply.body)["state"], "stopped") << r.reply.body;
  EXPECT_NE(ready->find("STATUS=serving 2 VMs (0 running) with 1 capabilities"), std::string::npos)
      << *ready;

  // The watchdog: pings at half the interval, while the agent answers.
  int pings = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (pings < 4 && std::chrono::steady_clock::now() < until) {
    if (auto m = manager.Next(std::chrono::seconds(2)); m && *m == "WATCHDOG=1") ++pings;
  }
  EXPECT_GE(pings, 4) << agent_->log();

  // Children do not inherit the service's variables (only the agent may
  // notify): a VMM started now has none of them.
  json web2 = Api("POST", "/v1/vms/web-2/start");
  ASSERT_EQ(web2["state"], "running") << web2;
  std::string environ = Environ(web2["runtime"]["pid"].get<int64_t>());
  EXPECT_EQ(environ.find("NOTIFY_SOCKET"), std::string::npos);
  EXPECT_EQ(environ.find("WATCHDOG_USEC"), std::string::npos);

  ASSERT_EQ(::kill(agent_->pid(), SIGTERM), 0);
  EXPECT_TRUE(manager.Until("STOPPING=1")) << agent_->log();
  EXPECT_EQ(agent_->WaitExit(std::chrono::seconds(30)), 0);
  EXPECT_EQ(manager.Count("READY=1"), 1u) << "READY=1 once in the agent's life";
  EXPECT_NE(agent_->log().find("watchdog: pinging the service manager every 150 ms"),
            std::string::npos)
      << agent_->log();
}

// An abstract socket ("@name", as systemd may pass), and no watchdog when
// WATCHDOG_USEC is not set: READY=1, then nothing until STOPPING=1.
TEST_F(ServiceTest, AbstractNotifySocketAndNoWatchdogUnlessAsked) {
  WriteConfig("vmm_binary = " + std::string(FC_SIM_PATH), "");
  std::string name = "@banger-service-test-" + std::to_string(::getpid());
  NotifyReceiver manager(name);
  ASSERT_TRUE(manager.bound());
  {
    ServiceEnvironment env(name, "");
    StartAgent();
  }
  ASSERT_TRUE(manager.Until("READY=1"));
  EXPECT_FALSE(manager.Next(std::chrono::milliseconds(800))) << "a datagram without a watchdog";
  ASSERT_EQ(::kill(agent_->pid(), SIGTERM), 0);
  EXPECT_TRUE(manager.Until("STOPPING=1"));
}

// log_format = json: every line one JSON object with time, level, capability
// and msg; a lifecycle stage is fields (op, vm, stage, ms as a number), not
// JSON inside text.
TEST_F(ServiceTest, JsonLogLinesCarryTheStageAsFields) {
  WriteConfig("vmm_binary = " + std::string(FC_SIM_PATH) + "\nlog_format = json", "");
  StartAgent();
  CreateVm("web-1");
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/start")["state"], "running");
  agent_->Stop(SIGTERM);
  std::istringstream lines(agent_->log());
  std::string line;
  int parsed = 0, stages = 0;
  while (std::getline(lines, line)) {
    json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    ++parsed;
    for (const char* key : {"time", "level", "capability", "msg"}) {
      EXPECT_TRUE(j.contains(key) && j[key].is_string()) << key << " in " << line;
    }
    if (j.value("stage", "") == "vmm.boot") {
      ++stages;
      EXPECT_EQ(j["op"], "vm.start");
      EXPECT_EQ(j["vm"], "web-1");
      EXPECT_TRUE(j["ms"].is_number()) << line;
      EXPECT_EQ(j["msg"], "stage done");
    }
  }
  EXPECT_GT(parsed, 5);
  EXPECT_EQ(stages, 1) << agent_->log();
}

// What a fleet scheduler asks before placing work, and drain: no creates or
// starts, running VMs stopped gracefully with a report; it outlives an agent
// restart until undrain.
TEST_F(ServiceTest, HostReportAndADrainThatOutlivesARestart) {
  WriteConfig("vmm_binary = " + std::string(FC_SIM_PATH), "");
  StartAgent();
  for (const char* name : {"a", "b", "idle"}) CreateVm(name);
  ASSERT_EQ(Api("POST", "/v1/vms/a/start")["state"], "running");
  ASSERT_EQ(Api("POST", "/v1/vms/b/start")["state"], "running");
  json host = Api("GET", "/v1/host");
  EXPECT_EQ(host["draining"], false);
  EXPECT_EQ(host["vms"]["running"], 2);
  EXPECT_EQ(host["vms"]["created"], 1);
  EXPECT_EQ(host["vcpus"]["committed"], 2);
  EXPECT_EQ(host["memory_mib"]["committed"], 256);
  EXPECT_GT(host["memory_mib"]["host"].get<int64_t>(), 256);

  auto drain = testing::RunCommand({BANGERCTL_PATH, "--socket", socket_, "drain"});
  EXPECT_EQ(drain.exit_code, 0) << drain.output;
  EXPECT_NE(drain.output.find("stopped a\n"), std::string::npos) << drain.output;
  EXPECT_NE(drain.output.find("stopped b\n"), std::string::npos) << drain.output;
  EXPECT_EQ(Api("GET", "/v1/vms/a")["last_stop_reason"], "drain");
  std::string refused =
      "the agent is draining: it takes no creates or starts (bangerctl undrain ends it)";
  EXPECT_EQ(Api("POST", "/v1/vms/idle/start").value("error", ""), "vm \"idle\": start: " + refused);
  EXPECT_EQ(CreateVm("new").value("error", ""), "vm \"new\": create: " + refused);

  agent_->Stop(SIGTERM);
  StartAgent("agent2.log");
  EXPECT_EQ(Api("GET", "/v1/host")["draining"], true);
  EXPECT_EQ(Api("POST", "/v1/vms/a/start").value("error", ""), "vm \"a\": start: " + refused);
  auto undrain = testing::RunCommand({BANGERCTL_PATH, "--socket", socket_, "undrain"});
  EXPECT_EQ(undrain.exit_code, 0) << undrain.output;
  EXPECT_EQ(Api("POST", "/v1/vms/a/start")["state"], "running");
  auto shown = testing::RunCommand({BANGERCTL_PATH, "--socket", socket_, "host"});
  EXPECT_NE(shown.output.find("vcpus:     1 of "), std::string::npos) << shown.output;
}

TEST_F(ServiceTest, ABadLogFormatIsAConfigErrorNamingTheKey) {
  WriteConfig("log_format = yaml", "");
  auto r = testing::RunCommand({BANGERD_PATH, "--config", dir_ / "bangerd.conf"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("core.log_format: 'yaml' is not a log format; use text or json"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace banger::core
