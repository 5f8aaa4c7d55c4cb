// fc-sim's fidelity to Firecracker as seen from the host: each refusal, what
// it opens when, metrics lines and their deltas, hybrid vsock with and
// without a guest listener, how it exits, the load it can simulate, and TAP
// devices (real ones, in a network namespace of the test's own).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/base/unique_fd.h"
#include "core/base/unix_http_client.h"
#include "tests/test_support.h"

namespace banger::core {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::BackgroundProcess;
using testing::TempDir;

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

struct Reply {
  int status = 0;
  std::string fault;  // fault_message, if any
};

class FcSimTest : public ::testing::Test {
 protected:
  FcSimTest() {
    testing::WriteFile(dir_ / "vmlinux", "kernel");
    testing::WriteFile(dir_ / "rootfs", std::string(4096, '\0'));
    testing::WriteFile(dir_ / "metrics", "");
  }

  // Starts fc-sim with `args` (optionally inside `wrap`) and waits for its API.
  std::unique_ptr<BackgroundProcess> Start(std::vector<std::string> args = {},
                                           const std::string& sock_name = "api.sock",
                                           const testing::NetNamespace* ns = nullptr) {
    std::vector<std::string> argv{FC_SIM_PATH, "--api-sock", dir_ / sock_name};
    argv.insert(argv.end(), args.begin(), args.end());
    if (ns) argv = ns->Wrap(argv);
    auto p = std::make_unique<BackgroundProcess>(argv, dir_ / (sock_name + ".log"));
    EXPECT_TRUE(testing::WaitFor([&] {
      return UnixHttpCall(dir_ / sock_name, "GET", "/", "", 1s).ok();
    })) << testing::ReadFile(dir_ / (sock_name + ".log"));
    return p;
  }

  Reply Put(const std::string& path, const json& body, const std::string& sock = "api.sock") {
    auto r = UnixHttpCall(dir_ / sock, "PUT", path, body.dump(), 5s);
    Reply out;
    if (!r.ok()) {
      out.fault = "transport: " + r.error;
      return out;
    }
    out.status = r.reply.status;
    if (r.reply.status != 204) {
      json j = json::parse(r.reply.body, nullptr, false);
      if (j.is_object() && j.contains("fault_message")) out.fault = j["fault_message"];
    }
    return out;
  }

  void Configure(const std::string& sock = "api.sock") {
    ASSERT_EQ(Put("/boot-source", {{"kernel_image_path", dir_ / "vmlinux"}}, sock).status, 204);
    ASSERT_EQ(
        Put("/drives/rootfs",
            {{"drive_id", "rootfs"}, {"path_on_host", dir_ / "rootfs"}, {"is_root_device", true}},
            sock)
            .status,
        204);
  }

  TempDir dir_;
};

TEST_F(FcSimTest, RefusesAnExistingApiSocketPathAndLeavesIt) {
  testing::WriteFile(dir_ / "api.sock", "someone else's");
  BackgroundProcess p({FC_SIM_PATH, "--api-sock", dir_ / "api.sock"}, dir_ / "log");
  EXPECT_EQ(p.WaitExit(10s), 1);
  EXPECT_CONTAINS(testing::ReadFile(dir_ / "log"),
                  "Failed to open the API socket at: " + (dir_ / "api.sock") +
                      ". Check that it is not already used.");
  EXPECT_EQ(testing::ReadFile(dir_ / "api.sock"), "someone else's");
}

TEST_F(FcSimTest, InstanceInfo) {
  auto p = Start({"--id", "vm-7"});
  auto r = UnixHttpCall(dir_ / "api.sock", "GET", "/", "", 1s);
  ASSERT_TRUE(r.ok());
  json info = json::parse(r.reply.body);
  EXPECT_EQ(info["id"], "vm-7");
  EXPECT_EQ(info["state"], "Not started");
  EXPECT_EQ(info["app_name"], "Firecracker");
  EXPECT_TRUE(info["vmm_version"].is_string());
}

TEST_F(FcSimTest, BodiesAreCheckedAgainstTheSpec) {
  auto p = Start();
  Reply missing = Put("/boot-source", {{"boot_args", "x"}});
  EXPECT_EQ(missing.status, 400);
  EXPECT_CONTAINS(missing.fault, "missing field `kernel_image_path`");
  Reply type = Put("/machine-config", {{"vcpu_count", "2"}, {"mem_size_mib", 128}});
  EXPECT_CONTAINS(type.fault, "invalid type: string for field `vcpu_count`, expected integer");
  Reply range = Put("/machine-config", {{"vcpu_count", 33}, {"mem_size_mib", 128}});
  EXPECT_CONTAINS(range.fault, "33 is above the maximum 32");
  Reply cid = Put("/vsock", {{"guest_cid", 2}, {"uds_path", dir_ / "v.sock"}});
  EXPECT_CONTAINS(cid.fault, "2 is below the minimum 3");
  Reply unknown = Put("/metrics", {{"metrics_path", dir_ / "metrics"}, {"colour", "red"}});
  EXPECT_CONTAINS(unknown.fault, "unknown field `colour`");
  Reply variant = Put("/actions", {{"action_type", "Reboot"}});
  EXPECT_CONTAINS(variant.fault, "unknown variant `Reboot`");
  auto garbage = UnixHttpCall(dir_ / "api.sock", "PUT", "/boot-source", "{not json", 1s);
  EXPECT_EQ(garbage.reply.status, 400);
  auto path = UnixHttpCall(dir_ / "api.sock", "GET", "/no-such-thing", "", 1s);
  EXPECT_EQ(path.reply.status, 400);
  EXPECT_CONTAINS(path.reply.body, "Invalid request method and/or path: GET /no-such-thing.");
}

TEST_F(FcSimTest, OpensWhatARequestNamesWhenItArrives) {
  auto p = Start();
  EXPECT_EQ(Put("/boot-source", {{"kernel_image_path", dir_ / "nope"}}).fault,
            "The kernel file cannot be opened: No such file or directory (os error 2)");
  Reply drive =
      Put("/drives/rootfs",
          {{"drive_id", "rootfs"}, {"path_on_host", dir_ / "nope"}, {"is_root_device", true}});
  EXPECT_CONTAINS(drive.fault, "Unable to create the block device");
  EXPECT_EQ(Put("/drives/a",
                {{"drive_id", "b"}, {"path_on_host", dir_ / "rootfs"}, {"is_root_device", false}})
                .fault,
            "The id from the path [a] does not match the id from the body [b]!");
  Reply metrics = Put("/metrics", {{"metrics_path", dir_ / "no-metrics-file"}});
  EXPECT_CONTAINS(metrics.fault, "Cannot open the metrics file: No such file or directory");
  // A vsock path that exists is refused (Firecracker binds it at this call).
  testing::WriteFile(dir_ / "v.sock", "");
  EXPECT_CONTAINS(Put("/vsock", {{"guest_cid", 3}, {"uds_path", dir_ / "v.sock"}}).fault,
                  "Cannot create backend for vsock device");
}

TEST_F(FcSimTest, LifecycleRefusals) {
  auto p = Start();
  EXPECT_EQ(Put("/actions", {{"action_type", "SendCtrlAltDel"}}).fault,
            "The requested operation is not supported before starting the microVM.");
  EXPECT_EQ(Put("/actions", {{"action_type", "InstanceStart"}}).fault,
            "Start microvm error: Cannot start microvm without kernel configuration.");
  EXPECT_EQ(Put("/metrics", {{"metrics_path", dir_ / "metrics"}}).status, 204);
  EXPECT_EQ(Put("/metrics", {{"metrics_path", dir_ / "metrics"}}).fault,
            "Reinitialization of metrics not allowed.");
  Configure();
  ASSERT_EQ(Put("/actions", {{"action_type", "InstanceStart"}}).status, 204);
  const std::string after = "The requested operation is not supported after starting the microVM.";
  EXPECT_EQ(Put("/boot-source", {{"kernel_image_path", dir_ / "vmlinux"}}).fault, after);
  EXPECT_EQ(Put("/machine-config", {{"vcpu_count", 1}, {"mem_size_mib", 128}}).fault, after);
  EXPECT_EQ(Put("/drives/x",
                {{"drive_id", "x"}, {"path_on_host", dir_ / "rootfs"}, {"is_root_device", false}})
                .fault,
            after);
  EXPECT_EQ(Put("/vsock", {{"guest_cid", 3}, {"uds_path", dir_ / "v2.sock"}}).fault, after);
  EXPECT_EQ(Put("/network-interfaces/eth0", {{"iface_id", "eth0"}, {"host_dev_name", "x"}}).fault,
            after);
  EXPECT_EQ(Put("/actions", {{"action_type", "InstanceStart"}}).fault, after);
  auto info = UnixHttpCall(dir_ / "api.sock", "GET", "/", "", 1s);
  EXPECT_EQ(json::parse(info.reply.body)["state"], "Running");
}

std::vector<json> MetricsLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<json> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(json::parse(line));  // throws if not JSON
  return lines;
}

TEST_F(FcSimTest, MetricsLinesAreJsonWithFirecrackersGroupsAndDeltas) {
  auto p = Start();
  ASSERT_EQ(
      Put("/metrics",
          {{"metrics_path", dir_ / "metrics"}, {"emit_id", true}, {"properties", {{"team", "ci"}}}})
          .status,
      204);
  Configure();
  Put("/boot-source", {{"kernel_image_path", dir_ / "nope"}});  // one failed PUT
  ASSERT_EQ(Put("/actions", {{"action_type", "FlushMetrics"}}).status, 204);
  ASSERT_EQ(Put("/actions", {{"action_type", "FlushMetrics"}}).status, 204);
  auto lines = MetricsLines(dir_ / "metrics");
  ASSERT_EQ(lines.size(), 2u);
  const json& first = lines[0];
  for (const char* group :
       {"api_server", "balloon", "block", "get_api_requests", "i8042", "latencies_us", "logger",
        "mmds", "net", "patch_api_requests", "put_api_requests", "seccomp", "vcpu", "vmm", "uart",
        "signals", "vsock", "entropy", "block_rootfs"}) {
    EXPECT_TRUE(first.contains(group)) << group;
  }
  EXPECT_EQ(first["id"], "anonymous-instance");
  EXPECT_EQ(first["properties"]["team"], "ci");
  EXPECT_EQ(first["put_api_requests"]["boot_source_count"], 2);
  EXPECT_EQ(first["put_api_requests"]["boot_source_fails"], 1);
  EXPECT_EQ(first["put_api_requests"]["drive_count"], 1);
  // A FlushMetrics call is counted once it is answered, after its own line.
  EXPECT_EQ(first["put_api_requests"]["actions_count"], 0);
  EXPECT_EQ(first["block"]["read_agg"]["sum_us"], 0);
  // Deltas: the second line counts only what happened since the first.
  EXPECT_EQ(lines[1]["put_api_requests"]["boot_source_count"], 0);
  EXPECT_EQ(lines[1]["put_api_requests"]["actions_count"], 1);
  // Store metrics keep their value.
  EXPECT_EQ(lines[1]["api_server"]["process_startup_time_us"],
            first["api_server"]["process_startup_time_us"]);
  EXPECT_GE(lines[1]["utc_timestamp_ms"].get<int64_t>(), first["utc_timestamp_ms"].get<int64_t>());
}

TEST_F(FcSimTest, MetricsAreWrittenPeriodicallyAndOverwriteFromTheStart) {
  testing::WriteFile(dir_ / "metrics", std::string(100000, 'x'));  // not truncated by fc-sim
  auto p = Start({"--metrics-interval-ms", "50"});
  ASSERT_EQ(Put("/metrics", {{"metrics_path", dir_ / "metrics"}}).status, 204);
  EXPECT_TRUE(testing::WaitFor([&] {
    std::string text = testing::ReadFile(dir_ / "metrics");
    return text.size() >= 100000 && text[0] == '{';
  }));
  // As with Firecracker, whoever launches it must truncate the file first.
  EXPECT_EQ(testing::ReadFile(dir_ / "metrics").size(), 100000u);
}

TEST_F(FcSimTest, FlushMetricsBeforeConfiguringIsRefused) {
  auto p = Start();
  EXPECT_CONTAINS(Put("/actions", {{"action_type", "FlushMetrics"}}).fault, "not initialized");
}

// A guest-side vsock listener that echoes what it receives.
class GuestEcho {
 public:
  explicit GuestEcho(const std::string& path) {
    fd_.Reset(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_.get(), 4);
    thread_ = std::thread([this] {
      int c = ::accept(fd_.get(), nullptr, nullptr);
      if (c < 0) return;
      char buf[256];
      ssize_t n;
      while ((n = ::read(c, buf, sizeof buf)) > 0) ::write(c, buf, static_cast<size_t>(n));
      ::close(c);
    });
  }
  ~GuestEcho() {
    ::shutdown(fd_.get(), SHUT_RDWR);
    thread_.join();
  }

 private:
  UniqueFd fd_;
  std::thread thread_;
};

// Connects to the vsock UDS, sends `request`, returns all it receives
// until the peer closes or `bytes_wanted` arrived.
std::string VsockExchange(const std::string& uds, const std::string& request, size_t bytes_wanted) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, uds.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return "!connect";
  timeval tv{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::write(fd.get(), request.data(), request.size());  // one write, as Firecracker asks
  std::string got;
  char buf[256];
  ssize_t n;
  while (got.size() < bytes_wanted && (n = ::read(fd.get(), buf, sizeof buf)) > 0) {
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

TEST_F(FcSimTest, HybridVsockRelaysToAGuestListener) {
  std::filesystem::create_directories(dir_ / "guest");
  auto p = Start({"--guest-vsock-dir", dir_ / "guest"});
  Configure();
  ASSERT_EQ(Put("/vsock", {{"guest_cid", 3}, {"uds_path", dir_ / "v.sock"}}).status, 204);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "v.sock")) << "uds_path is bound at PUT /vsock";
  GuestEcho echo(dir_ / "guest/52.sock");
  // Before the guest runs, connections are dropped without a word.
  EXPECT_EQ(VsockExchange(dir_ / "v.sock", "CONNECT 52\n", 64), "");
  ASSERT_EQ(Put("/actions", {{"action_type", "InstanceStart"}}).status, 204);
  std::string reply = VsockExchange(dir_ / "v.sock", "CONNECT 52\nping", 18);
  EXPECT_EQ(reply, "OK 1073741824\nping") << "OK <host port from 1<<30>, then the echo";
  // No listener on that port: closed with no message.
  EXPECT_EQ(VsockExchange(dir_ / "v.sock", "CONNECT 53\n", 64), "");
  EXPECT_EQ(VsockExchange(dir_ / "v.sock", "HELLO\n", 64), "");
}

TEST_F(FcSimTest, ExitsAfterCtrlAltDelUnlessToldToIgnoreIt) {
  auto p = Start();
  Configure();
  ASSERT_EQ(Put("/actions", {{"action_type", "InstanceStart"}}).status, 204);
  ASSERT_EQ(Put("/actions", {{"action_type", "SendCtrlAltDel"}}).status, 204);
  EXPECT_EQ(p->WaitExit(5s), 0);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "api.sock")) << "Firecracker leaves its socket";

  auto stubborn = Start({"--ignore-ctrl-alt-del"}, "api2.sock");
  Configure("api2.sock");
  ASSERT_EQ(Put("/actions", {{"action_type", "InstanceStart"}}, "api2.sock").status, 204);
  ASSERT_EQ(Put("/actions", {{"action_type", "SendCtrlAltDel"}}, "api2.sock").status, 204);
  EXPECT_EQ(stubborn->WaitExit(500ms), -1) << "it exited though told to ignore CtrlAltDel";
}

TEST_F(FcSimTest, SigtermKillsIt) {
  auto p = Start();
  p->Kill(SIGTERM);
  EXPECT_EQ(p->WaitExit(5s), 128 + SIGTERM) << "Firecracker does not handle SIGTERM";
}

uint64_t RssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  uint64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

uint64_t CpuTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string f;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return utime + stime;
}

TEST_F(FcSimTest, HoldsMemoryAndBurnsCpuOnceTheGuestRuns) {
  auto p = Start({"--hold-mib", "48", "--burn-cpu", "50"});
  Configure();
  uint64_t rss_before = RssBytes(p->pid());
  ASSERT_EQ(Put("/actions", {{"action_type", "InstanceStart"}}).status, 204);
  EXPECT_GE(RssBytes(p->pid()), 48ull << 20);
  EXPECT_LT(rss_before, 48ull << 20);
  uint64_t ticks = CpuTicks(p->pid());
  EXPECT_TRUE(testing::WaitFor([&] { return CpuTicks(p->pid()) >= ticks + 10; }, 10s));
}

TEST_F(FcSimTest, OpensTheTapItIsGivenAndABusyOrMissingTapIsRefused) {
  if (!testing::IsRoot()) GTEST_SKIP() << "needs root for a network namespace and a TAP";
  testing::NetNamespace ns;
  ASSERT_TRUE(ns.ok());
  ASSERT_EQ(ns.Run({"ip", "tuntap", "add", "dev", "bt0", "mode", "tap"}).exit_code, 0);
  auto first = Start({}, "api.sock", &ns);
  auto second = Start({}, "api2.sock", &ns);
  EXPECT_EQ(
      Put("/network-interfaces/eth0", {{"iface_id", "eth0"}, {"host_dev_name", "bt0"}}).status,
      204);
  Reply busy = Put("/network-interfaces/eth0", {{"iface_id", "eth0"}, {"host_dev_name", "bt0"}},
                   "api2.sock");
  EXPECT_EQ(busy.status, 400);
  EXPECT_CONTAINS(busy.fault, "Open tap device failed");
  EXPECT_CONTAINS(busy.fault, "busy (os error 16)");  // EBUSY: one process per TAP
  Reply missing = Put("/network-interfaces/eth0",
                      {{"iface_id", "eth0"}, {"host_dev_name", "nope0"}}, "api2.sock");
  EXPECT_CONTAINS(missing.fault, "No such device (os error 19)");
  EXPECT_CONTAINS(missing.fault, "Invalid TUN/TAP Backend provided by nope0");
  Reply mtu = Put("/network-interfaces/eth1",
                  {{"iface_id", "eth1"}, {"host_dev_name", "bt0"}, {"mtu", 40}}, "api2.sock");
  EXPECT_CONTAINS(mtu.fault, "40 is below the minimum 68");
}

}  // namespace
}  // namespace banger::core
