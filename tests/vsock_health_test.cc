// vsock-health through a real agent: fc-sim relays hybrid vsock to a real
// guest agent (or to nothing, or to a wrong one).
#include <sys/socket.h>
#include <sys/un.h>

#include <filesystem>
#include <thread>

#include "tests/agent_fixture.h"

namespace banger::core {
namespace {

using nlohmann::json;

class VsockHealthTest : public testing::AgentFixture {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_ / "guest");
    InstallCapabilities({}, {"vsock-health"});
  }
  void Start(const std::string& health_config) {
    WriteConfig("vmm_binary = " + FcSimWith("--guest-vsock-dir " + (dir_ / "guest")),
                "[plugins]\nenable = vsock-health\n[vsock-health]\n" + health_config);
    StartAgent();
    CreateVm("web-1");
  }
  void StartGuestAgent() {
    guest_ = std::make_unique<testing::BackgroundProcess>(
        std::vector<std::string>{GUEST_AGENT_PATH, "--unix", dir_ / "guest/52.sock"},
        dir_ / "guest.log");
    ASSERT_TRUE(testing::WaitFor([&] { return std::filesystem::exists(dir_ / "guest/52.sock"); }));
  }
  std::unique_ptr<testing::BackgroundProcess> guest_;
};

TEST_F(VsockHealthTest, HealthyThroughFcSimAndTheGuestAgent) {
  Start("timeout = 2s\n");
  StartGuestAgent();
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/start")["state"], "running");
  json h = Api("POST", "/v1/vms/web-1/health");
  EXPECT_EQ(h["healthy"], true) << h;
  EXPECT_EQ(h["guest"]["status"], "ok");
  EXPECT_TRUE(h["guest"].contains("uptime_s"));
  json p = Api("POST", "/v1/vms/web-1/ping");
  EXPECT_EQ(p["ok"], true) << p;
  // bangerctl knows nothing of these verbs and needs no change.
  auto ctl = testing::RunCommand({BANGERCTL_PATH, "--socket", socket_, "vm", "health", "web-1"});
  EXPECT_EQ(ctl.exit_code, 0) << ctl.output;
  EXPECT_EQ(json::parse(ctl.output)["healthy"], true);
}

TEST_F(VsockHealthTest, NoGuestListenerIsUnhealthyAtConnectAfterTheDeadline) {
  Start("timeout = 600ms\n");
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/start")["state"], "running");
  json h = Api("POST", "/v1/vms/web-1/health");
  EXPECT_EQ(h["healthy"], false);
  EXPECT_EQ(h["step"], "connect") << h;
  EXPECT_NE(h["error"].get<std::string>().find("gave up after 600 ms"), std::string::npos) << h;
  EXPECT_NE(h["error"].get<std::string>().find("CONNECT 52 refused: nothing listens"),
            std::string::npos);
  EXPECT_GT(h["attempts"].get<int>(), 1) << "it did not retry";
}

TEST_F(VsockHealthTest, AWrongReplyFromTheGuestIsUnhealthyAtReply) {
  Start("timeout = 2s\n");
  // A "guest agent" that answers 500.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = dir_ / "guest/52.sock";
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::listen(fd, 4);
  std::thread wrong([fd] {
    int c = ::accept(fd, nullptr, nullptr);
    char buf[512];
    ::read(c, buf, sizeof buf);
    const char* answer = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nsick";
    ::write(c, answer, std::strlen(answer));
    ::close(c);
  });
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/start")["state"], "running");
  json h = Api("POST", "/v1/vms/web-1/health");
  wrong.join();
  ::close(fd);
  EXPECT_EQ(h["healthy"], false);
  EXPECT_EQ(h["step"], "reply");
  EXPECT_EQ(h["error"], "the guest agent answered 500: sick");
}

TEST_F(VsockHealthTest, AVmThatIsNotRunning) {
  Start("timeout = 1s\n");
  json h = Api("POST", "/v1/vms/web-1/health");
  EXPECT_EQ(h["healthy"], false);
  EXPECT_EQ(h["step"], "vm");
  EXPECT_EQ(h["error"], "vm \"web-1\" is created, not running");
}

TEST_F(VsockHealthTest, ThePeriodicCheckRecordsTheResultInStats) {
  Start("timeout = 1s\ncheck_interval = 200ms\n");
  StartGuestAgent();
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/start")["state"], "running");
  EXPECT_TRUE(testing::WaitFor([&] {
    json vm = Api("GET", "/v1/vms/web-1");
    return vm["stats"]["values"].value("health_ok", -1.0) == 1.0 &&
           vm["stats"]["values"].value("health_checked_at_ms", 0.0) > 0;
  })) << Api("GET", "/v1/vms/web-1");
}

TEST_F(VsockHealthTest, BadConfigIsAnInitErrorNamingTheKey) {
  Start("timeout = soon\n");
  json caps = Api("GET", "/v1/capabilities/vsock-health");
  // Pointed at the file, line, section and key; not "unhandled exception".
  std::string text = caps["status_text"];
  EXPECT_NE(text.find("error: config error: "), std::string::npos) << text;
  EXPECT_NE(text.find(": [vsock-health] timeout: 'soon' is not a duration; write it like 500ms, "
                      "10s, 2h or 0"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("unhandled exception"), std::string::npos) << text;
}

}  // namespace
}  // namespace banger::core
