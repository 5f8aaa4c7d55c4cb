// The tap and nat capabilities, loaded for real, in a network namespace of
// the test's own (unshare): TAP devices, addresses, nft set elements and
// iptables rules are read back with `ip`, `nft` and `iptables`. Then the
// whole path through an agent with fc-sim opening the TAP.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/agent/agent_config.h"
#include "core/base/unix_http_client.h"
#include "core/lifecycle/lifecycle_backend.h"
#include "core/lifecycle/vm_view.h"
#include "core/plugin_host/hook_dispatcher.h"
#include "core/plugin_host/host_table.h"
#include "core/plugin_host/plugin_registry.h"
#include "core/store/vm_store.h"
#include "core/vmm/process_identity.h"
#include "tests/agent_fixture.h"
#include "tests/test_support.h"

namespace banger::core {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::RunCommand;
using testing::TempDir;

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)
#define EXPECT_LACKS(haystack, needle) \
  EXPECT_EQ(std::string(haystack).find(needle), std::string::npos) << (haystack)

std::string Sh(const std::vector<std::string>& argv) {
  return RunCommand(argv).output;
}

class NetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::IsRoot()) GTEST_SKIP() << "needs root: network namespaces, TAP devices, nft";
    // Everything from here on happens in a network namespace of this test's
    // own, which disappears with the process.
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << std::strerror(errno);
    ASSERT_EQ(
        RunCommand({"ip", "link", "add", "up0", "type", "veth", "peer", "name", "up0p"}).exit_code,
        0);
    RunCommand({"ip", "link", "set", "up0", "up"});
    testing::CopyPlugins(dir_ / "plugins", {});
    for (const char* p : {"tap", "nat"}) {
      std::filesystem::copy_file(std::string(BANGER_PLUGIN_DIR) + "/" + p + ".so",
                                 dir_ / (std::string("plugins/") + p + ".so"));
    }
    auto s = VmStore::Open({dir_ / "store", 1u << 20});
    ASSERT_TRUE(s.ok());
    store_ = std::move(s.value());
    handles_ = std::make_unique<HandleStore>(*store_);
    backend_ = std::make_unique<LifecycleBackend>(*store_, *handles_);
    backend_->AttachLifecycle(&lifecycle_);
    backend_->AttachRediscoverer(
        [this](const std::string& capability, const VmRecord& vm, const std::string& key) {
          return dispatcher_->Rediscover(capability, MakeVmView(vm), key);
        });
  }

  void TearDown() override {
    if (dispatcher_) dispatcher_->ShutdownAll();
  }

  // Loads and initialises tap and nat with extra config lines.
  void Load(const std::string& tap_config = "pool_size = 4\ncidr = 10.200.0.0/24\n",
            const std::string& nat_config = "uplink = up0\n", bool expect_ok = true) {
    auto cfg = ParseAgentConfig("[core]\nplugin_dirs = " + (dir_ / "plugins") +
                                    "\n[plugins]\nenable = tap, nat\n[tap]\n" + tap_config +
                                    "[nat]\n" + nat_config,
                                "test.conf");
    ASSERT_TRUE(cfg.ok()) << cfg.status().message();
    registry_ = PluginRegistry::Discover(*cfg, {false, ::geteuid()});
    // A fresh agent each load: what the last one registered is gone.
    if (dispatcher_) dispatcher_->ShutdownAll();
    verbs_ = std::make_unique<VerbRegistry>();
    host_table_ = std::make_unique<HostTable>(logger_, *verbs_);
    host_table_->AttachVmBackend(backend_.get());
    dispatcher_ = std::make_unique<HookDispatcher>(*registry_, *host_table_, logger_);
    Status init = dispatcher_->InitAll();
    if (expect_ok) {
      ASSERT_TRUE(init.ok()) << init.message();
      ASSERT_EQ(registry_->Find("tap")->StatusText(), "ok");
      ASSERT_EQ(registry_->Find("nat")->StatusText(), "ok");
      // The warm-up runs in the background; wait for the whole pool.
      ASSERT_TRUE(testing::WaitFor([&] { return Taps().size() >= 4; }));
    }
  }

  VmRecordPtr NewVm(const std::string& name) {
    VmRecord r;
    r.id = NewVmId();
    r.name = name;
    r.state = VmState::kStarting;
    EXPECT_TRUE(store_->Upsert(r).ok());
    return *store_->Get(r.id);
  }

  Status Prepare(const VmRecordPtr& vm) { return dispatcher_->Prepare(MakeVmView(*vm)); }
  Status Cleanup(const VmRecordPtr& vm) {
    return dispatcher_->Cleanup(MakeVmView(**store_->Get(vm->id)));
  }

  std::vector<std::string> Taps() {
    std::vector<std::string> out;
    for (const auto& link : json::parse(Sh({"ip", "-j", "link", "show", "type", "tun"}))) {
      out.push_back(link["ifname"]);
    }
    return out;
  }
  json Link(const std::string& name) {
    auto j = json::parse(Sh({"ip", "-j", "addr", "show", "dev", name}), nullptr, false);
    return j.is_array() && !j.empty() ? j[0] : json();
  }
  // (The link is held in a local: iterating a member of a temporary would
  // dangle.)
  std::string Ipv4Of(const std::string& name) {
    json link = Link(name);
    for (const auto& a : link["addr_info"]) {
      if (a["family"] == "inet")
        return a["local"].get<std::string>() + "/" + std::to_string(a["prefixlen"].get<int>());
    }
    return "";
  }
  bool IsUp(const std::string& name) {
    json link = Link(name);
    for (const auto& f : link["flags"]) {
      if (f == "UP") return true;
    }
    return false;
  }
  std::string Alias(const std::string& name) {
    auto j = json::parse(Sh({"ip", "-j", "link", "show", "dev", name}), nullptr, false);
    return j.is_array() && !j.empty() ? j[0].value("ifalias", "") : "";
  }
  std::string EgressSet() { return Sh({"nft", "list", "set", "ip", "banger", "egress"}); }
  std::string IptablesRules() {
    return Sh({"iptables", "-w", "-S", "FORWARD"}) +
           Sh({"iptables", "-w", "-t", "nat", "-S", "POSTROUTING"});
  }

  TempDir dir_;
  Logger logger_{LogLevel::kWarn};
  std::unique_ptr<VerbRegistry> verbs_;
  testing::ContributionRecorder lifecycle_;
  std::unique_ptr<VmStore> store_;
  std::unique_ptr<HandleStore> handles_;
  std::unique_ptr<LifecycleBackend> backend_;
  std::unique_ptr<PluginRegistry> registry_;
  std::unique_ptr<HostTable> host_table_;
  std::unique_ptr<HookDispatcher> dispatcher_;
};

TEST_F(NetworkTest, PrepareGivesAnUpTapWithItsAddressAndContributesIt) {
  Load();
  EXPECT_EQ(Taps().size(), 4u);
  for (const auto& t : Taps()) EXPECT_FALSE(IsUp(t)) << t << " is up while unused";
  EXPECT_EQ(testing::ReadFile("/proc/sys/net/ipv4/ip_forward"), "1\n");
  VmRecordPtr vm = NewVm("web-1");
  ASSERT_TRUE(Prepare(vm).ok());
  EXPECT_TRUE(IsUp("bt0"));
  EXPECT_EQ(Ipv4Of("bt0"), "10.200.0.1/30");
  std::string mac = "06:00:" + vm->id.substr(0, 2) + ":" + vm->id.substr(2, 2) + ":" +
                    vm->id.substr(4, 2) + ":" + vm->id.substr(6, 2);
  EXPECT_EQ(lifecycle_.ifaces[vm->id], (std::vector<std::string>{"eth0", "bt0", mac}));
  EXPECT_EQ(lifecycle_.boot_args[vm->id], "ip=10.200.0.2::10.200.0.1:255.255.255.252::eth0:off");
  EXPECT_CONTAINS(EgressSet(), "10.200.0.2 . \"bt0\"");
  // Identity was recorded: the tap's slot and addresses, nat's own copy.
  auto rec = *store_->Get(vm->id);
  EXPECT_EQ(rec->handles.at("tap").at("slot"), "0");
  EXPECT_EQ(rec->handles.at("tap").at("guest_ip"), "10.200.0.2");
  EXPECT_EQ(rec->handles.at("nat").at("tap_name"), "bt0");
  // A second VM gets the next slot.
  VmRecordPtr vm2 = NewVm("web-2");
  ASSERT_TRUE(Prepare(vm2).ok());
  EXPECT_EQ(Ipv4Of("bt1"), "10.200.0.5/30");
  EXPECT_CONTAINS(EgressSet(), "10.200.0.6 . \"bt1\"");
}

TEST_F(NetworkTest, CleanupRemovesTheEgressAndReturnsTheTapToThePool) {
  Load();
  VmRecordPtr vm = NewVm("web-1");
  ASSERT_TRUE(Prepare(vm).ok());
  ASSERT_TRUE(Cleanup(vm).ok());
  EXPECT_LACKS(EgressSet(), "10.200.0.2");
  EXPECT_FALSE(IsUp("bt0"));
  EXPECT_EQ(Ipv4Of("bt0"), "");
  EXPECT_EQ(Taps().size(), 4u) << "the device stays in the pool";
  // The slot is free again.
  VmRecordPtr next = NewVm("web-2");
  ASSERT_TRUE(Prepare(next).ok());
  EXPECT_EQ(Ipv4Of("bt0"), "10.200.0.1/30");
}

// What was recorded wins: after the operator changes tap's prefix (and the
// agent restarts), cleanup undoes the device the VM was given, named as
// recorded, not one named from the slot and the new prefix. That device is
// no longer one of the pool's, so it goes.
TEST_F(NetworkTest, CleanupUsesTheRecordedDeviceAfterAPrefixChange) {
  Load();
  VmRecordPtr vm = NewVm("web-1");
  ASSERT_TRUE(Prepare(vm).ok());
  ASSERT_EQ(Ipv4Of("bt0"), "10.200.0.1/30");
  dispatcher_->ShutdownAll();
  dispatcher_.reset();
  handles_->ForgetAll();
  Load("pool_size = 4\ncidr = 10.200.0.0/24\nprefix = xt\n");
  ASSERT_TRUE(Cleanup(vm).ok());
  EXPECT_TRUE(Link("bt0").is_null()) << "the recorded device, out of the pool now, is deleted";
  EXPECT_EQ(Ipv4Of("xt0"), "") << "the new pool's device was never the VM's";
}

TEST_F(NetworkTest, CleanupFindsTheObjectsThroughTheRecordWhenTheCacheIsGone) {
  Load();
  VmRecordPtr vm = NewVm("web-1");
  ASSERT_TRUE(Prepare(vm).ok());
  handles_->ForgetAll();  // the agent lost its memory of them
  ASSERT_TRUE(Cleanup(vm).ok());
  EXPECT_LACKS(EgressSet(), "10.200.0.2");
  EXPECT_FALSE(IsUp("bt0"));
}

// nat's own record of an egress lost (its handles cleared) while the entry
// is still there: its cleanup falls back to tap's handles and removes it.
TEST_F(NetworkTest, NatCleanupFallsBackToTapsHandlesWhenItsOwnAreGone) {
  Load();
  VmRecordPtr vm = NewVm("web-1");
  ASSERT_TRUE(Prepare(vm).ok());
  ASSERT_NE(EgressSet().find("10.200.0.2"), std::string::npos) << EgressSet();
  ASSERT_TRUE(handles_->Clear(vm->id, "nat", "").ok());
  ASSERT_EQ((*store_->Get(vm->id))->handles.count("nat"), 0u);
  ASSERT_TRUE(Cleanup(vm).ok());
  EXPECT_LACKS(EgressSet(), "10.200.0.2");
}

// A pool device that carries an address no record names (a running VM whose
// record is corrupt) is never handed to another VM, so that VM's failed
// start cannot strip the address either.
TEST_F(NetworkTest, ASlotWhoseDeviceHasAnAddressNoRecordNamesIsLeftAlone) {
  Load();
  Sh({"ip", "addr", "add", "10.200.0.1/30", "dev", "bt0"});
  VmRecordPtr vm = NewVm("web-1");
  ASSERT_TRUE(Prepare(vm).ok());
  EXPECT_EQ((*store_->Get(vm->id))->handles.at("tap").at("tap_name"), "bt1");
  ASSERT_TRUE(Cleanup(vm).ok());
  EXPECT_EQ(Ipv4Of("bt0"), "10.200.0.1/30") << "the unrecorded VM's address is kept";
  EXPECT_EQ(Ipv4Of("bt1"), "");
}

// A record that lost every handle (a store rebuilt by --recover-store): tap
// finds its device by the alias it set (the VM's id), and nat finds its
// entry through tap's handles; both are undone.
TEST_F(NetworkTest, TapRediscoversItsDeviceByItsAliasWhenTheRecordHasNoHandles) {
  Load();
  VmRecordPtr vm = NewVm("web-1");
  ASSERT_TRUE(Prepare(vm).ok());
  EXPECT_EQ(Alias("bt0"), vm->id);
  ASSERT_TRUE(handles_->Clear(vm->id, "tap", "").ok());
  ASSERT_TRUE(handles_->Clear(vm->id, "nat", "").ok());
  ASSERT_TRUE((*store_->Get(vm->id))->handles.empty());
  ASSERT_TRUE(Cleanup(vm).ok());
  EXPECT_EQ(Ipv4Of("bt0"), "");
  EXPECT_LACKS(EgressSet(), "10.200.0.2");
  EXPECT_EQ(Alias("bt0"), "");
}

// Handles from before (a store restored from an older copy) that name a
// slot another VM holds now: the device says whose it is, and the cleanup
// leaves it alone.
TEST_F(NetworkTest, StaleHandlesNamingAnotherVmsDeviceLeaveItAlone) {
  Load();
  VmRecordPtr a = NewVm("web-a");
  ASSERT_TRUE(Prepare(a).ok());
  VmHandles before = (*store_->Get(a->id))->handles;
  ASSERT_TRUE(Cleanup(a).ok());
  VmRecordPtr b = NewVm("web-b");
  ASSERT_TRUE(Prepare(b).ok());
  ASSERT_EQ(Ipv4Of("bt0"), "10.200.0.1/30") << "b has a's old slot";
  ASSERT_TRUE(handles_->SetMany(a->id, "tap", {before["tap"].begin(), before["tap"].end()}).ok());
  ASSERT_TRUE(Cleanup(a).ok());
  EXPECT_EQ(Ipv4Of("bt0"), "10.200.0.1/30") << "b's device was undone by a's stale handles";
  EXPECT_EQ(Alias("bt0"), b->id);
}

TEST_F(NetworkTest, CrashBetweenRecordingAndCreatingLeavesNothingToFail) {
  Load();
  VmRecordPtr vm = NewVm("web-1");
  // Recorded, never created: as if the agent died right after the commit.
  ASSERT_TRUE(handles_
                  ->SetMany(vm->id, "tap",
                            {{"slot", "2"},
                             {"tap_name", "bt2"},
                             {"host_ip", "10.200.0.9"},
                             {"guest_ip", "10.200.0.10"}})
                  .ok());
  ASSERT_TRUE(
      handles_->SetMany(vm->id, "nat", {{"guest_ip", "10.200.0.10"}, {"tap_name", "bt2"}}).ok());
  handles_->ForgetAll();
  // What this checks is that cleanup of objects that were never made
  // succeeds (each capability finds nothing and says so). (It used to also
  // check that bt2 is not up: bt2 was never brought up, so that could not fail.)
  Status s = Cleanup(vm);
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST_F(NetworkTest, DoubleCleanupAndNeverAllocatedAreBothFine) {
  Load();
  VmRecordPtr vm = NewVm("web-1");
  ASSERT_TRUE(Prepare(vm).ok());
  EXPECT_TRUE(Cleanup(vm).ok());
  EXPECT_TRUE(Cleanup(vm).ok());
  VmRecordPtr never = NewVm("never");
  EXPECT_TRUE(Cleanup(never).ok());
}

TEST_F(NetworkTest, CleanupOfATapDeletedByHand) {
  Load();
  VmRecordPtr vm = NewVm("web-1");
  ASSERT_TRUE(Prepare(vm).ok());
  ASSERT_EQ(RunCommand({"ip", "link", "del", "bt0"}).exit_code, 0);
  Status s = Cleanup(vm);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_LACKS(EgressSet(), "10.200.0.2");
  // The slot is usable again: the device is recreated on demand.
  VmRecordPtr next = NewVm("web-2");
  ASSERT_TRUE(Prepare(next).ok());
  EXPECT_EQ(Ipv4Of("bt0"), "10.200.0.1/30");
}

TEST_F(NetworkTest, PoolExhaustionIsAClearError) {
  Load();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Prepare(NewVm("vm-" + std::to_string(i))).ok());
  Status s = Prepare(NewVm("one-too-many"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "tap: prepare vm \"one-too-many\": the pool is exhausted: all 4 slots are in use "
            "(raise [tap] pool_size, within the cidr)");
}

TEST_F(NetworkTest, ACidrTooSmallForThePoolIsAnInitError) {
  Load("pool_size = 4\ncidr = 10.200.0.0/29\n", "uplink = up0\n", /*expect_ok=*/false);
  EXPECT_EQ(registry_->Find("tap")->StatusText(),
            "error: config error: test.conf:7: [tap] cidr: 10.200.0.0/29 holds 2 /30 slots, "
            "fewer than pool_size 4: widen the cidr or shrink the pool");
  EXPECT_CONTAINS(registry_->Find("nat")->StatusText(), "error: requires 'tap'");
}

TEST_F(NetworkTest, NoUplinkMakesNatSkipWithTheReason) {
  Load("pool_size = 4\ncidr = 10.200.0.0/24\n", "", /*expect_ok=*/false);
  EXPECT_EQ(registry_->Find("nat")->StatusText(),
            "skip: no uplink: this network namespace has no default route; set [nat] uplink to the "
            "interface guests should reach out through");
}

TEST_F(NetworkTest, IptablesBackendSameMatrix) {
  if (RunCommand({"iptables", "--version"}).exit_code != 0) GTEST_SKIP() << "no iptables";
  Load("pool_size = 4\ncidr = 10.200.0.0/24\n", "uplink = up0\nbackend = iptables\n");
  VmRecordPtr vm = NewVm("web-1");
  ASSERT_TRUE(Prepare(vm).ok());
  std::string rules = IptablesRules();
  EXPECT_CONTAINS(rules, "-A POSTROUTING -s 10.200.0.2/32 -o up0 -j MASQUERADE");
  EXPECT_CONTAINS(rules, "-A FORWARD -s 10.200.0.2/32 -i bt0 -o up0 -j ACCEPT");
  EXPECT_CONTAINS(rules,
                  "-A FORWARD -d 10.200.0.2/32 -i up0 -o bt0 -m conntrack --ctstate "
                  "RELATED,ESTABLISHED -j ACCEPT");
  ASSERT_TRUE(Prepare(vm).ok());  // again: checked before added, no duplicate
  rules = IptablesRules();
  EXPECT_EQ(rules.find("MASQUERADE"), rules.rfind("MASQUERADE"));
  handles_->ForgetAll();
  ASSERT_TRUE(Cleanup(vm).ok());
  EXPECT_LACKS(IptablesRules(), "10.200.0.2");
  ASSERT_TRUE(Cleanup(vm).ok()) << "a rule already gone is fine";
  // Tap deleted by hand, then cleanup.
  VmRecordPtr vm2 = NewVm("web-2");
  ASSERT_TRUE(Prepare(vm2).ok());
  RunCommand({"ip", "link", "del", "bt0"});
  EXPECT_TRUE(Cleanup(vm2).ok());
  EXPECT_LACKS(IptablesRules(), "bt0");
}

// ---- through the agent, with fc-sim opening the TAP ----

class AgentNetworkTest : public testing::AgentFixture {
 protected:
  void SetUp() override {
    if (!testing::IsRoot()) GTEST_SKIP() << "needs root: network namespaces, TAP devices, nft";
    ASSERT_TRUE(ns_.ok());
    ns_.Run({"ip", "link", "add", "up0", "type", "veth", "peer", "name", "up0p"});
    ns_.Run({"ip", "link", "set", "up0", "up"});
    InstallCapabilities({}, {"tap", "nat"});
    WriteConfig(std::string("vmm_binary = ") + FC_SIM_PATH,
                "[plugins]\nenable = tap, nat\n[tap]\npool_size = 6\n"
                "cidr = 10.200.0.0/24\n[nat]\nuplink = up0\n");
  }
  void TearDown() override { agent_.reset(); }  // before its namespace goes

  testing::NetNamespace ns_;
};

// The durable writes of a start and a stop with tap and nat (ARCHITECTURE.md,
// "Durability"): a start commits "starting" with both capabilities' handles
// in one transaction, and "running" once, written behind; a stop commits
// "stopping", then "stopped" with the handles cleared. (Before: a start
// committed starting, tap's handles, nat's handles, the PID and running;
// a stop stopping, each capability's clear and stopped.)
TEST_F(AgentNetworkTest, AStartCommitsOnceAndItsRunningOnceBehindAndAStopTwice) {
  StartAgentIn(ns_, "agent.log");
  CreateVm("web");
  auto commits = [&] { return Api("GET", "/v1/info")["store_commits"].get<uint64_t>(); };
  const uint64_t before = commits();  // the create's are done: nothing waits
  json vm = Api("POST", "/v1/vms/web/start");
  ASSERT_EQ(vm["state"], "running") << vm;
  EXPECT_EQ(vm["handles"]["tap"]["tap_name"], "bt0");
  EXPECT_EQ(vm["handles"]["nat"]["guest_ip"], "10.200.0.2");
  EXPECT_GT(vm["runtime"]["pid"].get<int64_t>(), 0);
  // One commit when it answers (two once "running" is flushed), never more.
  EXPECT_LE(commits() - before, 2u);
  EXPECT_TRUE(testing::WaitFor([&] { return commits() == before + 2; })) << commits() - before;
  const uint64_t started = commits();
  json stopped = Api("POST", "/v1/vms/web/stop");
  ASSERT_EQ(stopped["state"], "stopped") << stopped;
  EXPECT_TRUE(stopped["handles"].empty()) << stopped;
  EXPECT_EQ(commits() - started, 2u) << "stopping, and stopped with the handles cleared";
  // What the records say after a restart is what was answered.
  agent_->Stop(SIGTERM);
  StartAgentIn(ns_, "agent2.log");
  json again = Api("GET", "/v1/vms/web");
  EXPECT_EQ(again["state"], "stopped") << again;
  EXPECT_TRUE(again["handles"].empty()) << again;
}

TEST_F(AgentNetworkTest, KilledAgentWithFiveVmsLeavesNothingBehindOnceStopped) {
  StartAgentIn(ns_, "agent.log");
  for (int i = 0; i < 5; ++i) {
    std::string name = "vm-" + std::to_string(i);
    CreateVm(name);
    json vm = Api("POST", "/v1/vms/" + name + "/start");
    ASSERT_EQ(vm["state"], "running") << vm;
    EXPECT_EQ(vm["handles"]["tap"]["tap_name"], "bt" + std::to_string(i));
  }
  // fc-sim holds each VM's TAP: a second open would be EBUSY.
  EXPECT_CONTAINS(ns_.Run({"nft", "list", "set", "ip", "banger", "egress"}).output,
                  "10.200.0.18 . \"bt4\"");
  agent_->Stop(SIGKILL);
  StartAgentIn(ns_, "agent2.log");
  for (int i = 0; i < 5; ++i) {
    json vm = Api("POST", "/v1/vms/vm-" + std::to_string(i) + "/stop");
    EXPECT_EQ(vm["state"], "stopped") << vm;
  }
  auto taps = json::parse(ns_.Run({"ip", "-j", "addr", "show", "type", "tun"}).output);
  EXPECT_EQ(taps.size(), 6u) << "TAPs beyond the pool";
  for (const auto& t : taps) {
    for (const auto& a : t["addr_info"]) EXPECT_NE(a["family"], "inet") << t["ifname"];
  }
  std::string set = ns_.Run({"nft", "list", "set", "ip", "banger", "egress"}).output;
  EXPECT_LACKS(set, "elements");
  for (const auto& [socket, procs] : ScanApiSocketProcesses()) {
    EXPECT_NE(socket.rfind(dir_.path(), 0), 0u) << "VMM left running: " << socket;
  }
  // What the package's removal does after its drain: the pool's devices go.
  json released = Api("POST", "/v1/capabilities/tap/release");
  EXPECT_EQ(released["deleted"], 6) << released;
  auto left =
      json::parse(ns_.Run({"ip", "-j", "link", "show", "type", "tun"}).output, nullptr, false);
  EXPECT_EQ(left, json::array()) << "TAP devices left after tap release";
}

}  // namespace
}  // namespace banger::core
