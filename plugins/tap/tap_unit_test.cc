// tap's unit tests, against the SDK's fake host (banger/testing.hpp), in a
// network namespace of the test process's own (unshare: the machine's
// network is never touched). Needs root (skipped, saying so, without).
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>
#include <banger/testing.hpp>

#include <string>

#include "plugins/tap/netlink_link.h"

extern "C" const banger_capability* banger_capability_entry(void);

namespace {

using banger::testing::FakeHost;
using banger::testing::Harness;

class TapUnitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: TAP devices, in a network namespace";
    // Each test process gets one namespace (gtest_discover_tests runs one
    // test per process); a second unshare would only make another.
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET)";
  }
  static bool Exists(const std::string& dev) { return ::if_nametoindex(dev.c_str()) != 0; }
};

TEST_F(TapUnitTest, PrepareRecordsTheHandlesContributesTheInterfaceAndCleanupUndoesIt) {
  FakeHost host("tap", {{"pool_size", "2"}, {"cidr", "10.250.0.0/24"}, {"prefix", "ut"}});
  Harness tap(banger_capability_entry(), host);
  ASSERT_TRUE(tap.Init().ok());
  auto& vm = host.AddVm("web");
  banger::Status s = tap.Prepare("web");
  ASSERT_TRUE(s.ok()) << s.message();
  // The pool as `caps tap pool` and GET /v1/host show it.
  auto pool = tap.Command("pool");
  ASSERT_TRUE(pool.ok()) << pool.status.message();
  EXPECT_EQ(pool.value, "{\"size\": 2, \"in_use\": 1, \"free\": 1}");
  EXPECT_EQ(tap.Command("flush").status.code(), BANGER_NOT_FOUND);
  EXPECT_EQ(host.Recorded(vm.id, "tap_name"), "ut0");
  EXPECT_EQ(host.Recorded(vm.id, "guest_ip"), "10.250.0.2");
  EXPECT_EQ(host.Recorded(vm.id, "host_ip"), "10.250.0.1");
  EXPECT_TRUE(Exists("ut0"));
  ASSERT_EQ(host.interfaces().at(vm.id), std::vector<std::string>{"eth0=ut0"});
  EXPECT_EQ(host.boot_args().at(vm.id), "ip=10.250.0.2::10.250.0.1:255.255.255.252::eth0:off");
  s = tap.Cleanup("web");
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_TRUE(Exists("ut0")) << "a pool device was deleted";
  // Cleanup again: idempotent.
  EXPECT_TRUE(tap.Cleanup("web").ok());
}

TEST_F(TapUnitTest, ATapTheRecordLostIsFoundAgainByRediscover) {
  FakeHost host("tap", {{"pool_size", "2"}, {"cidr", "10.251.0.0/24"}, {"prefix", "ur"}});
  Harness tap(banger_capability_entry(), host);
  ASSERT_TRUE(tap.Init().ok());
  auto& vm = host.AddVm("web");
  ASSERT_TRUE(tap.Prepare("web").ok());
  ASSERT_TRUE(tapcap::HasIpv4Address("ur0"));
  // The record lost the device (a store restored from an older copy).
  host.ForgetRecorded(vm.id, "slot");
  host.ForgetRecorded(vm.id, "tap_name");
  host.DropCache();
  ASSERT_TRUE(tap.Cleanup("web").ok());
  // Found by rediscover (the device's alias is the VM id), and undone.
  ASSERT_FALSE(host.rediscovered().empty()) << "cleanup did not ask rediscover";
  EXPECT_EQ(host.rediscovered().front(), vm.id + " slot");
  EXPECT_FALSE(tapcap::HasIpv4Address("ur0")) << "cleanup left the host's address on ur0";
}

TEST_F(TapUnitTest, ReleaseDeletesTheFreeDevicesAndNotAVmsOwn) {
  FakeHost host("tap", {{"pool_size", "3"}, {"cidr", "10.253.0.0/24"}, {"prefix", "ul"}});
  Harness tap(banger_capability_entry(), host);
  ASSERT_TRUE(tap.Init().ok());
  host.AddVm("web");
  ASSERT_TRUE(tap.Prepare("web").ok());
  // Warmed (one device for the VM, two free), the free ones go.
  for (int i = 0; i < 250 && !(Exists("ul1") && Exists("ul2")); ++i) ::usleep(20 * 1000);
  ASSERT_TRUE(Exists("ul1") && Exists("ul2")) << "the pool did not warm";
  auto released = tap.Command("release");
  ASSERT_TRUE(released.ok()) << released.status.message();
  EXPECT_EQ(released.value, "{\"deleted\": 2, \"in_use\": 1, \"left_alone\": 0}");
  EXPECT_TRUE(Exists("ul0")) << "the running VM's TAP was deleted";
  EXPECT_FALSE(Exists("ul1"));
  EXPECT_FALSE(Exists("ul2"));
  // A start afterwards makes its device again.
  host.AddVm("db");
  ASSERT_TRUE(tap.Prepare("db").ok());
  EXPECT_TRUE(Exists("ul1"));
  ASSERT_TRUE(tap.Cleanup("web").ok());
  ASSERT_TRUE(tap.Cleanup("db").ok());
  released = tap.Command("release");
  ASSERT_TRUE(released.ok()) << released.status.message();
  EXPECT_EQ(released.value, "{\"deleted\": 2, \"in_use\": 0, \"left_alone\": 0}");
  EXPECT_FALSE(Exists("ul0"));
  EXPECT_FALSE(Exists("ul1"));
}

TEST_F(TapUnitTest, ABadCidrIsAConfigErrorNamingTheKey) {
  FakeHost host("tap", {{"pool_size", "4"}, {"cidr", "10.252.0.0/29"}});
  Harness tap(banger_capability_entry(), host);
  banger::Status s = tap.Init();
  EXPECT_EQ(s.code(), BANGER_INVALID);
  EXPECT_EQ(s.message(),
            "config key cidr: 10.252.0.0/29 holds 2 /30 slots, fewer than pool_size 4: widen the "
            "cidr or shrink the pool");
}

}  // namespace
