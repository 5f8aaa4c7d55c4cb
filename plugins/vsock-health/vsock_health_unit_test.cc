// vsock-health's unit tests, against the SDK's fake host (banger/testing.hpp).
// The probe itself meets real sockets in tests/vsock_health_test.cc; these
// drive the hooks: verbs, a VM that is not running, a guest that is not
// there, the periodic check's figures, the config.
#include <gtest/gtest.h>
#include <banger/testing.hpp>

#include <nlohmann/json.hpp>

extern "C" const banger_capability* banger_capability_entry(void);

namespace {

using banger::testing::FakeHost;
using banger::testing::Harness;

TEST(VsockHealthUnitTest, RegistersHealthAndPing) {
  FakeHost host("vsock-health");
  Harness health(banger_capability_entry(), host);
  ASSERT_TRUE(health.Init().ok());
  EXPECT_EQ(host.verbs(), (std::vector<std::string>{"health", "ping"}));
}

TEST(VsockHealthUnitTest, AVmThatIsNotRunningIsUnhealthyAtTheVmStep) {
  FakeHost host("vsock-health");
  Harness health(banger_capability_entry(), host);
  ASSERT_TRUE(health.Init().ok());
  host.AddVm("web");  // created, not running
  auto reply = health.Query("health", "web");
  ASSERT_TRUE(reply.ok()) << reply.status.message();
  auto j = nlohmann::json::parse(reply.value);
  EXPECT_EQ(j["healthy"], false);
  EXPECT_EQ(j["step"], "vm");
  EXPECT_EQ(j["error"], "vm \"web\" is created, not running");
}

TEST(VsockHealthUnitTest, NoVsockSocketFailsAtTheSocketStep) {
  FakeHost host("vsock-health", {{"timeout", "200ms"}});
  Harness health(banger_capability_entry(), host);
  ASSERT_TRUE(health.Init().ok());
  auto& vm = host.AddVm("web");
  vm.state = "running";
  vm.vsock_path = "/nonexistent/banger-test/vsock.sock";
  auto j = nlohmann::json::parse(health.Query("ping", "web").value);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["step"], "socket");
}

TEST(VsockHealthUnitTest, ABadPortIsAConfigErrorNamingTheKey) {
  FakeHost host("vsock-health", {{"port", "0"}});
  Harness health(banger_capability_entry(), host);
  banger::Status s = health.Init();
  EXPECT_EQ(s.code(), BANGER_INVALID);
  EXPECT_EQ(s.message(), "config key port: '0' is not a vsock port (1 to 4294967295)");
}

}  // namespace
