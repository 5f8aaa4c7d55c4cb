// portfwd end to end: a real agent (tap and portfwd) in a network namespace
// of its own, a VM with --opt portfwd.tcp=8080:80, and real packets: a
// client in a second namespace connects to the host's port 8080 and is
// answered by a server listening on port 80 at the guest's IP, in a third
// namespace (a veth stands in for the guest behind its TAP: fc-sim boots no
// guest). Then the host's own connection, a conflicting VM refused at
// create, and nothing left once the VM stops.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/base/unique_fd.h"
#include "tests/agent_fixture.h"
#include "tests/test_support.h"

namespace banger::core {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A socket of `type` created inside namespace `ns` (setns is per thread:
// a thread of its own enters it; the socket stays in it).
int SocketIn(const testing::NetNamespace& ns, int type) {
  return std::async(
             std::launch::async,
             [&] {
               UniqueFd target(::open(("/run/netns/" + ns.name()).c_str(), O_RDONLY | O_CLOEXEC));
               if (!target.valid() || ::setns(target.get(), CLONE_NEWNET) != 0) return -1;
               return ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
             })
      .get();
}

sockaddr_in Address(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

// Connects from `ns` to ip:port and reads what the far end says, or
// "connect: <why>" / "read: <why>".
std::string Fetch(const testing::NetNamespace& ns, const std::string& ip, int port) {
  UniqueFd fd(SocketIn(ns, SOCK_STREAM));
  if (!fd.valid()) return "socket: " + std::string(std::strerror(errno));
  timeval timeout{3, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in a = Address(ip, port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    return "connect: " + std::string(std::strerror(errno));
  }
  std::string got;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  if (n < 0) return "read: " + std::string(std::strerror(errno));
  return got;
}

// The guest's service: answers each connection with who it came from.
class GuestServer {
 public:
  GuestServer(const testing::NetNamespace& ns, int port) : fd_(SocketIn(ns, SOCK_STREAM)) {
    int one = 1;
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = Address("0.0.0.0", port);
    ok_ = ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
          ::listen(fd_.get(), 16) == 0;
    thread_ = std::thread([this] { Serve(); });
  }
  ~GuestServer() {
    stop_ = true;
    thread_.join();
  }
  bool ok() const { return ok_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      sockaddr_in peer{};
      socklen_t len = sizeof peer;
      UniqueFd c(::accept4(fd_.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
      if (!c.valid()) continue;
      char ip[INET_ADDRSTRLEN] = {0};
      ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
      std::string reply = "hello from the guest, " + std::string(ip) + "\n";
      ssize_t unused = ::write(c.get(), reply.data(), reply.size());
      (void)unused;
    }
  }
  UniqueFd fd_;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class PortfwdTest : public testing::AgentFixture {
 protected:
  void SetUp() override {
    if (!testing::IsRoot()) GTEST_SKIP() << "needs root: network namespaces, TAP devices, nft";
    ASSERT_TRUE(host_.ok() && guest_.ok() && client_.ok());
    // host <-> client: the host's address 192.0.2.1, the client's .2.
    // host <-> guest: a veth standing in for the TAP's far end.
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {"ip", "link", "set", "lo", "up"},
             {"ip", "link", "add", "pf-c", "type", "veth", "peer", "name", "pf-ca"},
             {"ip", "link", "set", "pf-ca", "netns", client_.name()},
             {"ip", "addr", "add", "192.0.2.1/24", "dev", "pf-c"},
             {"ip", "link", "set", "pf-c", "up"},
             {"ip", "link", "add", "pf-g", "type", "veth", "peer", "name", "pf-ga"},
             {"ip", "link", "set", "pf-ga", "netns", guest_.name()},
             {"ip", "addr", "add", "198.51.100.1/32", "dev", "pf-g"},
             {"ip", "link", "set", "pf-g", "up"}}) {
      auto r = host_.Run(argv);
      ASSERT_EQ(r.exit_code, 0) << r.output;
    }
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {"ip", "link", "set", "lo", "up"},
             {"ip", "addr", "add", "192.0.2.2/24", "dev", "pf-ca"},
             {"ip", "link", "set", "pf-ca", "up"}}) {
      ASSERT_EQ(client_.Run(argv).exit_code, 0);
    }
    InstallCapabilities({}, {"tap", "portfwd"});
    testing::WriteFile(dir_ / "vmlinux", "k");
    testing::WriteFile(dir_ / "rootfs", std::string(4096, 'r'));
    WriteConfig(std::string("vmm_binary = ") + FC_SIM_PATH,
                "[plugins]\nenable = tap, portfwd\n[tap]\npool_size = 2\ncidr = 10.201.0.0/24\n");
    StartAgentIn(host_);
  }
  void TearDown() override { agent_.reset(); }  // before its namespace goes
  json Create(const std::string& name, const std::string& tcp) {
    return Api("POST", "/v1/vms",
               {{"name", name},
                {"kernel", dir_ / "vmlinux"},
                {"rootfs", dir_ / "rootfs"},
                {"options", {{"portfwd.tcp", tcp}}}});
  }
  // The guest's side of the stand-in: its IP on the veth, routes both ways.
  void PlaceGuest(const std::string& guest_ip) {
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {"ip", "link", "set", "lo", "up"},
             {"ip", "addr", "add", guest_ip + "/32", "dev", "pf-ga"},
             {"ip", "link", "set", "pf-ga", "up"},
             {"ip", "route", "add", "198.51.100.1", "dev", "pf-ga"},
             {"ip", "route", "add", "default", "via", "198.51.100.1"}}) {
      auto r = guest_.Run(argv);
      ASSERT_EQ(r.exit_code, 0) << r.output;
    }
    // More specific than the TAP's /30: the guest's packets take the veth.
    auto r = host_.Run({"ip", "route", "add", guest_ip + "/32", "dev", "pf-g"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  testing::NetNamespace host_, guest_, client_;
};

TEST_F(PortfwdTest, AClientReachesTheGuestThroughTheHostPortUntilTheVmStops) {
  json created = Create("web", "8080:80");
  ASSERT_EQ(created["name"], "web") << created;
  json vm = Api("POST", "/v1/vms/web/start");
  ASSERT_EQ(vm["state"], "running") << vm << agent_->log();
  EXPECT_EQ(vm["handles"]["portfwd"]["tcp"], "8080:80") << vm["handles"];
  std::string guest_ip = vm["handles"]["tap"]["guest_ip"];
  PlaceGuest(guest_ip);
  GuestServer server(guest_, 80);
  ASSERT_TRUE(server.ok());

  // From another machine (the client namespace) to the host's address.
  EXPECT_EQ(Fetch(client_, "192.0.2.1", 8080), "hello from the guest, 192.0.2.2\n")
      << host_.Run({"nft", "list", "table", "ip", "banger_portfwd"}).output;
  // From the host itself (the output hook).
  EXPECT_EQ(Fetch(host_, "192.0.2.1", 8080).rfind("hello from the guest, ", 0), 0u);
  // Only the forwarded port: 8081 is not the guest's.
  EXPECT_EQ(Fetch(client_, "192.0.2.1", 8081), "connect: Connection refused");

  // Another VM may not take the port, at create.
  json refused = Create("web-2", "8443:443,8080:81");
  EXPECT_EQ(refused.value("error", ""),
            "vm \"web-2\": create: portfwd: tcp host port 8080 is already forwarded to vm \"web\"")
      << refused;

  // Stopped: the forward is gone, the host's port is closed again.
  ASSERT_EQ(Api("POST", "/v1/vms/web/stop")["state"], "stopped");
  EXPECT_EQ(Fetch(client_, "192.0.2.1", 8080), "connect: Connection refused");
  std::string map = host_.Run({"nft", "list", "map", "ip", "banger_portfwd", "fwd_tcp"}).output;
  EXPECT_EQ(map.find("elements"), std::string::npos) << map;
  // And back when it starts again.
  ASSERT_EQ(Api("POST", "/v1/vms/web/start")["state"], "running");
  EXPECT_EQ(Fetch(client_, "192.0.2.1", 8080), "hello from the guest, 192.0.2.2\n");
}

}  // namespace
}  // namespace banger::core
