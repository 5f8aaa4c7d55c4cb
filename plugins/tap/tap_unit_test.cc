// tap's unit tests, against the SDK's fake host (banger/testing.hpp), in a
// network namespace of the test process's own (unshare: the machine's
// network is never touched). Needs root (skipped, saying so, without).
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>
#include <banger/testing.hpp>

#include <map>
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
  static bool HasAddress(const std::string& dev) {
    auto link = tapcap::GetLink(dev);
    return link && tapcap::HasIpv4Address(*link);
  }
};

TEST_F(TapUnitTest, AStartRecordsTheHandlesContributesTheInterfaceAndCleanupUndoesIt) {
  FakeHost host("tap", {{"pool_size", "2"}, {"cidr", "10.250.0.0/24"}, {"prefix", "ut"}});
  Harness tap(banger_capability_entry(), host);
  ASSERT_TRUE(tap.Init().ok());
  auto& vm = host.AddVm("web");
  banger::Status s = tap.Start("web");
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

TEST_F(TapUnitTest, ReserveRecordsTheSlotAndPrepareWithoutItReservesFirst) {
  FakeHost host("tap", {{"pool_size", "2"}, {"cidr", "10.250.1.0/24"}, {"prefix", "uv"}});
  Harness tap(banger_capability_entry(), host);
  ASSERT_TRUE(tap.Init().ok());
  auto& web = host.AddVm("web");
  ASSERT_TRUE(tap.Reserve("web").ok());
  EXPECT_EQ(host.Recorded(web.id, "slot"), "0");
  EXPECT_FALSE(HasAddress("uv0")) << "reserve claimed the device";
  ASSERT_TRUE(tap.Prepare("web").ok());
  EXPECT_TRUE(HasAddress("uv0"));
  // A host without reserve: prepare records first, then claims.
  auto& db = host.AddVm("db");
  ASSERT_TRUE(tap.Prepare("db").ok());
  EXPECT_EQ(host.Recorded(db.id, "tap_name"), "uv1");
  EXPECT_TRUE(HasAddress("uv1"));
  // The pool is exhausted at reserve, and nothing is recorded.
  auto& third = host.AddVm("third");
  banger::Status s = tap.Reserve("third");
  EXPECT_EQ(
      s.message(),
      "the pool is exhausted: all 2 slots are in use (raise [tap] pool_size, within the cidr)");
  EXPECT_FALSE(host.Recorded(third.id, "slot").has_value());
  ASSERT_TRUE(tap.Cleanup("web").ok());
  ASSERT_TRUE(tap.Start("third").ok()) << "the slot web freed is not reused";
  EXPECT_EQ(host.Recorded(third.id, "slot"), "0");
}

TEST_F(TapUnitTest, AWarmDeviceOfTheRightOwnerIsNeverOpenedByAStartOrAStop) {
  // Opening a TAP to change it (and closing it) waits for an RCU grace
  // period in the kernel: milliseconds on a busy host. Each open and close
  // moves the device's carrier-changes count.
  FakeHost host("tap", {{"pool_size", "2"}, {"cidr", "10.250.2.0/24"}, {"prefix", "uw"}});
  Harness tap(banger_capability_entry(), host);
  ASSERT_TRUE(tap.Init().ok());
  for (int i = 0; i < 250 && !(Exists("uw0") && Exists("uw1")); ++i) ::usleep(20 * 1000);
  ASSERT_TRUE(Exists("uw0") && Exists("uw1")) << "the pool did not warm";
  auto changes = [](const std::string& dev) { return tapcap::GetLink(dev)->carrier_changes; };
  const uint32_t warm = changes("uw0");
  host.AddVm("web");
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(tap.Start("web").ok());
    ASSERT_TRUE(tap.Cleanup("web").ok());
  }
  EXPECT_EQ(changes("uw0"), warm) << "a start or a stop opened a device it did not need to";
}

TEST_F(TapUnitTest, AJailedVmmsUidOwnsOneDeviceAtMostAndKeepsItAcrossStarts) {
  FakeHost host("tap", {{"pool_size", "3"}, {"cidr", "10.250.3.0/24"}, {"prefix", "ux"}});
  Harness tap(banger_capability_entry(), host);
  ASSERT_TRUE(tap.Init().ok());
  for (int i = 0; i < 250 && !Exists("ux2"); ++i) ::usleep(20 * 1000);
  ASSERT_TRUE(Exists("ux2")) << "the pool did not warm";
  auto owner = [](const std::string& dev) { return tapcap::GetLink(dev)->tun_owner.value_or(-1); };
  auto changes = [](const std::string& dev) { return tapcap::GetLink(dev)->carrier_changes; };
  // A plain VM takes ux0; a jailed one (uid 910001) the next, given to it.
  host.AddVm("plain");
  ASSERT_TRUE(tap.Start("plain").ok());
  host.AddVm("jailed-a").vmm_uid = 910001;
  ASSERT_TRUE(tap.Start("jailed-a").ok());
  EXPECT_EQ(owner("ux1"), 910001u);
  // Stopped, the device stays its uid's (nobody runs as that uid now).
  ASSERT_TRUE(tap.Cleanup("plain").ok());
  ASSERT_TRUE(tap.Cleanup("jailed-a").ok());
  EXPECT_EQ(owner("ux1"), 910001u);
  // The next VMM of that uid takes that device, as it is, though a lower
  // slot is free; a VMM of another uid never gets it.
  const uint32_t before = changes("ux1");
  auto& b = host.AddVm("jailed-b");
  b.vmm_uid = 910001;
  ASSERT_TRUE(tap.Start("jailed-b").ok());
  EXPECT_EQ(host.Recorded(b.id, "tap_name"), "ux1");
  EXPECT_EQ(changes("ux1"), before) << "the device its uid owns was opened again";
  auto& c = host.AddVm("jailed-c");
  c.vmm_uid = 910002;
  ASSERT_TRUE(tap.Start("jailed-c").ok());
  EXPECT_NE(host.Recorded(c.id, "tap_name"), "ux1");
  std::map<int64_t, int> devices_of;
  for (const char* dev : {"ux0", "ux1", "ux2"}) ++devices_of[owner(dev)];
  EXPECT_EQ(devices_of[910001], 1);
  EXPECT_EQ(devices_of[910002], 1);
}

TEST_F(TapUnitTest, ATapTheRecordLostIsFoundAgainByRediscover) {
  FakeHost host("tap", {{"pool_size", "2"}, {"cidr", "10.251.0.0/24"}, {"prefix", "ur"}});
  Harness tap(banger_capability_entry(), host);
  ASSERT_TRUE(tap.Init().ok());
  auto& vm = host.AddVm("web");
  ASSERT_TRUE(tap.Prepare("web").ok());
  ASSERT_TRUE(HasAddress("ur0"));
  // The record lost the device (a store restored from an older copy).
  host.ForgetRecorded(vm.id, "slot");
  host.ForgetRecorded(vm.id, "tap_name");
  host.DropCache();
  ASSERT_TRUE(tap.Cleanup("web").ok());
  // Found by rediscover (the device's alias is the VM id), and undone.
  ASSERT_FALSE(host.rediscovered().empty()) << "cleanup did not ask rediscover";
  EXPECT_EQ(host.rediscovered().front(), vm.id + " slot");
  EXPECT_FALSE(HasAddress("ur0")) << "cleanup left the host's address on ur0";
}

TEST_F(TapUnitTest, ReleaseDeletesTheFreeDevicesAndNotAVmsOwn) {
  FakeHost host("tap", {{"pool_size", "3"}, {"cidr", "10.253.0.0/24"}, {"prefix", "ul"}});
  Harness tap(banger_capability_entry(), host);
  ASSERT_TRUE(tap.Init().ok());
  host.AddVm("web");
  ASSERT_TRUE(tap.Start("web").ok());
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
  ASSERT_TRUE(tap.Start("db").ok());
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
