// nat's unit tests, against the SDK's fake host (banger/testing.hpp), in a
// network namespace of the test process's own (unshare: the machine's
// network and its nftables are never touched). Needs root and nft.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>
#include <banger/testing.hpp>

#include <string>

#include "plugins/netfilter/nft_session.h"

extern "C" const banger_capability* banger_capability_entry(void);

namespace {

using banger::testing::FakeHost;
using banger::testing::Harness;

// The egress set as nftables lists it (libnftables: no shell, no nft binary).
std::string ListEgress() {
  netfilter::NftSession nft;
  auto listed = nft.Run("list set ip banger egress");
  return listed.ok() ? listed.value : listed.status.message();
}

class NatUnitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: nftables, in a network namespace";
    // (The uplink need not exist: nat's rules match it by name.)
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET)";
  }
};

TEST_F(NatUnitTest, PrepareAddsTheTapsGuestToEgressAndCleanupRemovesIt) {
  FakeHost host("nat", {{"uplink", "up0"}, {"table", "banger"}});
  Harness nat(banger_capability_entry(), host);
  banger::Status s = nat.Init();
  ASSERT_TRUE(s.ok()) << s.message();
  auto& vm = host.AddVm("web");
  host.SetForeignHandle("tap", vm.id, "guest_ip", "10.253.0.2");
  host.SetForeignHandle("tap", vm.id, "tap_name", "bt0");
  s = nat.Prepare("web");
  ASSERT_TRUE(s.ok()) << s.message();
  // Its own record of what it added, before adding it.
  EXPECT_EQ(host.Recorded(vm.id, "guest_ip"), "10.253.0.2");
  EXPECT_EQ(host.Recorded(vm.id, "tap_name"), "bt0");
  std::string set = ListEgress();
  EXPECT_NE(set.find("10.253.0.2 . \"bt0\""), std::string::npos) << set;
  ASSERT_TRUE(nat.Cleanup("web").ok());
  set = ListEgress();
  EXPECT_EQ(set.find("10.253.0.2"), std::string::npos) << set;
  // Its handles are gone (cleared after the cleanup, as the agent does): a
  // second cleanup finds tap's, and there is nothing left to remove.
  EXPECT_TRUE(nat.Cleanup("web").ok()) << "a second cleanup is not idempotent";
  set = ListEgress();
  EXPECT_EQ(set.find("10.253.0.2"), std::string::npos) << set;
}

TEST_F(NatUnitTest, WithoutATapThereIsNothingToPrepare) {
  FakeHost host("nat", {{"uplink", "up0"}});
  Harness nat(banger_capability_entry(), host);
  ASSERT_TRUE(nat.Init().ok());
  host.AddVm("web");
  banger::Status s = nat.Prepare("web");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no TAP from the tap capability"), std::string::npos) << s.message();
}

TEST_F(NatUnitTest, ABadBackendIsAConfigErrorNamingTheKey) {
  FakeHost host("nat", {{"uplink", "up0"}, {"backend", "pf"}});
  Harness nat(banger_capability_entry(), host);
  banger::Status s = nat.Init();
  EXPECT_EQ(s.code(), BANGER_INVALID);
  EXPECT_EQ(s.message(), "config key backend: 'pf' must be nftables or iptables");
}

}  // namespace
