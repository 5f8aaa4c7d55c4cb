// portfwd's unit tests, against the SDK's fake host (banger/testing.hpp), in
// a network namespace of the test process's own (unshare: the machine's
// network, nftables and sockets are never touched). Needs root and nftables.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>
#include <banger/testing.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "plugins/netfilter/nft_session.h"

extern "C" const banger_capability* banger_capability_entry(void);

namespace {

using banger::testing::FakeHost;
using banger::testing::Harness;

// What nftables lists for `what` (libnftables: no shell, no nft binary).
std::string Nft(const std::string& what) {
  netfilter::NftSession nft;
  auto listed = nft.Run("list " + what);
  return listed.ok() ? listed.value : listed.status.message();
}
std::string TcpMap() {
  return Nft("map ip banger_portfwd fwd_tcp");
}
std::string UdpMap() {
  return Nft("map ip banger_portfwd fwd_udp");
}
bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class PortfwdUnitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: nftables, in a network namespace";
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET)";
  }
};

TEST_F(PortfwdUnitTest, OptionsAreCheckedStrictlyWithTheExpectedForm) {
  FakeHost host("portfwd");
  Harness portfwd(banger_capability_entry(), host);
  ASSERT_TRUE(portfwd.Init().ok());
  const std::string form =
      "; write HOSTPORT:GUESTPORT[,HOSTPORT:GUESTPORT...] with ports 1-65535, e.g. "
      "tcp=8080:80,8443:443";
  struct Case {
    std::string key, value, message;
  };
  const std::vector<Case> refused = {
      {"tcp", "8080", "option tcp: '8080' is not HOSTPORT:GUESTPORT" + form},
      {"tcp", "8080:80:1", "option tcp: '8080:80:1' is not HOSTPORT:GUESTPORT" + form},
      {"tcp", "0:80", "option tcp: '0' in '0:80' is not a port (1-65535, plain decimal)" + form},
      {"tcp", "70000:80",
       "option tcp: '70000' in '70000:80' is not a port (1-65535, plain decimal)" + form},
      {"tcp", "8080:", "option tcp: '' in '8080:' is not a port (1-65535, plain decimal)" + form},
      {"tcp", "080:80",
       "option tcp: '080' in '080:80' is not a port (1-65535, plain decimal)" + form},
      {"tcp", " 8080:80",
       "option tcp: ' 8080' in ' 8080:80' is not a port (1-65535, plain decimal)" + form},
      {"tcp", "8080:80,", "option tcp: an empty entry (a stray comma) in '8080:80,'" + form},
      {"tcp", "", "option tcp: it is empty" + form},
      {"tcp", "8080:80,8080:81",
       "option tcp: host port 8080 is given twice (a host port forwards to one guest port)" + form},
      {"tpc", "8080:80", "unknown option 'tpc'; it takes: tcp, udp (e.g. tcp=8080:80)"},
  };
  for (const auto& c : refused) {
    banger::Status s = portfwd.ValidateOptions({{c.key, c.value}});
    EXPECT_EQ(s.code(), BANGER_INVALID) << c.key << "=" << c.value;
    EXPECT_EQ(s.message(), c.message) << c.key << "=" << c.value;
  }
  // The same host port in the two protocols is two forwards.
  banger::Status s = portfwd.ValidateOptions({{"tcp", "8080:80,8443:443"}, {"udp", "8080:53"}});
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST_F(PortfwdUnitTest, AHostPortAnotherVmsOptionsClaimIsRefusedAtCreate) {
  FakeHost host("portfwd");
  Harness portfwd(banger_capability_entry(), host);
  ASSERT_TRUE(portfwd.Init().ok());
  host.AddVm("web-1", {{"tcp", "9000:80,8080:80"}});
  host.AddVm("db", {});
  banger::Status s = portfwd.ValidateOptions({{"tcp", "8443:443,8080:81"}});
  EXPECT_EQ(s.code(), BANGER_INVALID);
  EXPECT_EQ(s.message(), "tcp host port 8080 is already forwarded to vm \"web-1\"");
  // Another protocol, or another port, is free.
  s = portfwd.ValidateOptions({{"udp", "8080:53"}, {"tcp", "8081:80"}});
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST_F(PortfwdUnitTest, AHostPortAHostSocketServesIsRefused) {
  FakeHost host("portfwd");
  Harness portfwd(banger_capability_entry(), host);
  ASSERT_TRUE(portfwd.Init().ok());
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(2222);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  banger::Status s = portfwd.ValidateOptions({{"tcp", "2222:22"}});
  ::close(fd);
  EXPECT_EQ(s.code(), BANGER_INVALID);
  EXPECT_EQ(s.message(),
            "tcp host port 2222 is in use on this host (a socket of the host serves it); forward "
            "another host port");
}

TEST_F(PortfwdUnitTest, InitBuildsTheTableItsRulesLookUp) {
  FakeHost host("portfwd");
  Harness portfwd(banger_capability_entry(), host);
  banger::Status s = portfwd.Init();
  ASSERT_TRUE(s.ok()) << s.message();
  std::string table = Nft("table ip banger_portfwd");
  EXPECT_TRUE(Has(table, "fib daddr type local dnat ip to tcp dport map @fwd_tcp")) << table;
  EXPECT_TRUE(Has(table, "fib daddr type local dnat ip to udp dport map @fwd_udp")) << table;
  EXPECT_TRUE(Has(table, "ct status dnat accept")) << table;
  EXPECT_FALSE(Has(table, "masquerade")) << "loopback is off by default: " << table;
  EXPECT_TRUE(host.Logged("net.ipv4.ip_forward"));
}

TEST_F(PortfwdUnitTest, PrepareAddsTheVmsElementsAndCleanupRemovesThem) {
  FakeHost host("portfwd");
  Harness portfwd(banger_capability_entry(), host);
  ASSERT_TRUE(portfwd.Init().ok());
  auto& vm = host.AddVm("web", {{"tcp", "8080:80,8443:443"}, {"udp", "5353:53"}});
  host.SetForeignHandle("tap", vm.id, "guest_ip", "10.253.0.2");
  banger::Status s = portfwd.Prepare("web");
  ASSERT_TRUE(s.ok()) << s.message();
  // Its own record of what it added, before adding it.
  EXPECT_EQ(host.Recorded(vm.id, "guest_ip"), "10.253.0.2");
  EXPECT_EQ(host.Recorded(vm.id, "tcp"), "8080:80,8443:443");
  EXPECT_EQ(host.Recorded(vm.id, "udp"), "5353:53");
  std::string tcp = TcpMap(), udp = UdpMap();
  EXPECT_TRUE(Has(tcp, "8080 : 10.253.0.2 . 80")) << tcp;
  EXPECT_TRUE(Has(tcp, "8443 : 10.253.0.2 . 443")) << tcp;
  EXPECT_TRUE(Has(udp, "5353 : 10.253.0.2 . 53")) << udp;
  EXPECT_TRUE(portfwd.Prepare("web").ok()) << "a second prepare is not idempotent";

  ASSERT_TRUE(portfwd.Cleanup("web").ok());
  tcp = TcpMap();
  udp = UdpMap();
  EXPECT_FALSE(Has(tcp, "10.253.0.2")) << tcp;
  EXPECT_FALSE(Has(udp, "10.253.0.2")) << udp;
  // Its handles are gone (cleared after the cleanup, as the agent does): a
  // second cleanup goes by the options and tap's address, and finds nothing.
  s = portfwd.Cleanup("web");
  EXPECT_TRUE(s.ok()) << "a second cleanup is not idempotent: " << s.message();
}

TEST_F(PortfwdUnitTest, CleanupFindsTheForwardsInTheRecordAfterTheCacheIsLost) {
  FakeHost host("portfwd");
  Harness portfwd(banger_capability_entry(), host);
  ASSERT_TRUE(portfwd.Init().ok());
  auto& vm = host.AddVm("web", {{"tcp", "8080:80"}});
  host.SetForeignHandle("tap", vm.id, "guest_ip", "10.253.0.2");
  ASSERT_TRUE(portfwd.Prepare("web").ok());
  host.DropCache();  // an agent restart
  // tap's address moved on (a record restored from a copy): the record wins.
  host.SetForeignHandle("tap", vm.id, "guest_ip", "10.253.0.6");
  banger::Status s = portfwd.Cleanup("web");
  ASSERT_TRUE(s.ok()) << s.message();
  std::string tcp = TcpMap();
  EXPECT_FALSE(Has(tcp, "8080")) << tcp;
}

TEST_F(PortfwdUnitTest, WithoutItsOwnRecordCleanupGoesByTheOptionsAndTapsAddress) {
  FakeHost host("portfwd");
  Harness portfwd(banger_capability_entry(), host);
  ASSERT_TRUE(portfwd.Init().ok());
  auto& vm = host.AddVm("web", {{"udp", "5353:53"}});
  host.SetForeignHandle("tap", vm.id, "guest_ip", "10.253.0.2");
  ASSERT_TRUE(portfwd.Prepare("web").ok());
  for (const char* key : {"guest_ip", "tcp", "udp"}) host.ForgetRecorded(vm.id, key);
  banger::Status s = portfwd.Cleanup("web");
  ASSERT_TRUE(s.ok()) << s.message();
  std::string udp = UdpMap();
  EXPECT_FALSE(Has(udp, "5353")) << udp;
}

TEST_F(PortfwdUnitTest, APortAnotherVmForwardsIsRefusedAtPrepareAndLeftAlone) {
  FakeHost host("portfwd");
  Harness portfwd(banger_capability_entry(), host);
  ASSERT_TRUE(portfwd.Init().ok());
  auto& a = host.AddVm("a", {{"tcp", "8080:80"}});
  host.SetForeignHandle("tap", a.id, "guest_ip", "10.253.0.2");
  ASSERT_TRUE(portfwd.Prepare("a").ok());
  // Two creates that raced past validate_options: the second start is refused.
  auto& b = host.AddVm("b", {{"tcp", "9090:90,8080:80"}});
  host.SetForeignHandle("tap", b.id, "guest_ip", "10.253.0.6");
  banger::Status s = portfwd.Prepare("b");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "tcp host port 8080 is already forwarded to vm \"a\" (10.253.0.2:80)");
  // b's cleanup (the agent rolls the start back) leaves a's forward.
  s = portfwd.Cleanup("b");
  EXPECT_TRUE(s.ok()) << s.message();
  std::string tcp = TcpMap();
  EXPECT_TRUE(Has(tcp, "8080 : 10.253.0.2 . 80")) << tcp;
  EXPECT_FALSE(Has(tcp, "10.253.0.6")) << tcp;
}

TEST_F(PortfwdUnitTest, AVmWithoutOptionsIsLeftAlone) {
  FakeHost host("portfwd");
  Harness portfwd(banger_capability_entry(), host);
  ASSERT_TRUE(portfwd.Init().ok());
  auto& vm = host.AddVm("plain");
  EXPECT_TRUE(portfwd.Prepare("plain").ok());
  EXPECT_FALSE(host.Recorded(vm.id, "guest_ip").has_value());
  EXPECT_TRUE(portfwd.Cleanup("plain").ok());
}

TEST_F(PortfwdUnitTest, TheIptablesBackendChecksBeforeItAddsAndRemoves) {
  FakeHost host("portfwd", {{"backend", "iptables"}});
  bool present = false;
  host.OnExec([&](const std::vector<std::string>& argv) {
    banger::ExecOutcome o;
    o.exit_code = 0;
    if (std::find(argv.begin(), argv.end(), "-C") != argv.end()) o.exit_code = present ? 0 : 1;
    if (std::find(argv.begin(), argv.end(), "-S") != argv.end())
      o.output = "-P PREROUTING ACCEPT\n";
    return o;
  });
  Harness portfwd(banger_capability_entry(), host);
  banger::Status s = portfwd.Init();
  ASSERT_TRUE(s.ok()) << s.message();
  auto& vm = host.AddVm("web", {{"tcp", "8080:80"}});
  host.SetForeignHandle("tap", vm.id, "guest_ip", "10.253.0.2");
  ASSERT_TRUE(portfwd.Prepare("web").ok());
  std::vector<std::string> calls;
  for (const auto& argv : host.exec_calls()) {
    std::string line;
    for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
    calls.push_back(line);
  }
  const std::string dnat =
      "iptables -w 5 -t nat -A PREROUTING -p tcp --dport 8080 -m addrtype --dst-type LOCAL ! -d "
      "127.0.0.0/8 -m comment --comment banger-portfwd -j DNAT --to-destination 10.253.0.2:80";
  EXPECT_NE(std::find(calls.begin(), calls.end(), dnat), calls.end());
  auto count = [&](const char* op) {
    return std::count_if(host.exec_calls().begin(), host.exec_calls().end(),
                         [&](const std::vector<std::string>& argv) {
                           return std::find(argv.begin(), argv.end(), op) != argv.end();
                         });
  };
  // PREROUTING and OUTPUT DNAT, and the accept both ways.
  EXPECT_EQ(count("-A"), 4);
  present = true;
  ASSERT_TRUE(portfwd.Cleanup("web").ok());
  EXPECT_EQ(count("-D"), 4);
}

TEST_F(PortfwdUnitTest, BadConfigIsAConfigErrorNamingTheKey) {
  struct Case {
    std::string key, value, message;
  };
  const std::vector<Case> cases = {
      {"backend", "pf", "config key backend: 'pf' must be nftables or iptables"},
      {"addresses", "192.0.2.1, 127.0.0.1",
       "config key addresses: '127.0.0.1' is a loopback address; set loopback = true to forward "
       "127.0.0.0/8"},
      {"addresses", "192.0.2.300",
       "config key addresses: '192.0.2.300' is not a host IPv4 address; write them like "
       "192.0.2.10, 198.51.100.7"},
      {"loopback", "yes", "config key loopback: 'yes' must be true or false"},
      {"table", "bad name",
       "config key table: 'bad name' is not a table name: a letter, then up to 31 letters, "
       "digits or '_'"},
  };
  for (const auto& c : cases) {
    FakeHost host("portfwd", {{c.key, c.value}});
    Harness portfwd(banger_capability_entry(), host);
    banger::Status s = portfwd.Init();
    EXPECT_EQ(s.code(), BANGER_INVALID) << c.key;
    EXPECT_EQ(s.message(), c.message);
  }
}

}  // namespace
