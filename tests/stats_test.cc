// The stats capability: its metrics-file reading on crafted files, then end
// to end with fc-sim holding memory, burning CPU and writing metrics.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "plugins/stats/vm_sampler.h"
#include "tests/agent_fixture.h"

namespace banger::core {
namespace {

using nlohmann::json;

TEST(StatsMetricsTest, DeltasAddUpAbsolutesKeepTheLatestABadLineIsCounted) {
  testing::TempDir dir;
  std::string path = dir / "metrics.json";
  std::ofstream(path)
      << R"({"utc_timestamp_ms":1,"api_server":{"process_startup_time_us":3000},"net":{"rx_bytes_count":100},"block":{"read_agg":{"min_us":5,"max_us":9,"sum_us":20}}})"
      << "\n"
      << "this is not json\n"
      << R"({"utc_timestamp_ms":2,"api_server":{"process_startup_time_us":3000},"net":{"rx_bytes_count":50},"block":{"read_agg":{"min_us":1,"max_us":4,"sum_us":7}}})"
      << "\n"
      << R"({"net":{"rx_bytes_count":7)";  // a partial line: not yet
  stats::VmSampler sampler;
  stats::VmTarget target{::getpid(), 0, path, "", "", "", ""};
  stats::Sample s = sampler.Take(target, 1000);
  EXPECT_EQ(s.Metric("net.rx_bytes_count"), 150);                   // 100 + 50
  EXPECT_EQ(s.Metric("api_server.process_startup_time_us"), 3000);  // absolute: not 6000
  EXPECT_EQ(s.Metric("block.read_agg.sum_us"), 27);
  EXPECT_EQ(s.Metric("block.read_agg.max_us"), 4);  // latest
  EXPECT_EQ(s.Metric("utc_timestamp_ms"), 2);
  EXPECT_EQ(s.metrics_lines, 3u);
  EXPECT_EQ(s.metrics_bad_lines, 1u);
  // The partial line completes; only what was appended is read.
  std::ofstream(path, std::ios::app) << "}}\n";
  s = sampler.Take(target, 2000);
  EXPECT_EQ(s.Metric("net.rx_bytes_count"), 157);
  EXPECT_EQ(s.metrics_lines, 4u);
  // A VMM restart truncates the file: read again from the start.
  std::ofstream(path, std::ios::trunc) << R"({"net":{"rx_bytes_count":1}})"
                                       << "\n";
  s = sampler.Take(target, 3000);
  EXPECT_EQ(s.Metric("net.rx_bytes_count"), 1);
  EXPECT_EQ(s.metrics_bad_lines, 1u);
}

// A VMM (a jailed one owns the file) can write a "line" longer than a sample
// reads (8 MiB): it is skipped and counted, wherever the sampler's offset is,
// and the lines after it are read.
TEST(StatsMetricsTest, ALineLongerThanASampleReadsIsSkippedAfterAnOffsetToo) {
  testing::TempDir dir;
  std::string path = dir / "metrics.json";
  std::ofstream(path) << R"({"net":{"rx_bytes_count":1}})"
                      << "\n";
  stats::VmSampler sampler;
  stats::VmTarget target{::getpid(), 0, path, "", "", "", ""};
  stats::Sample s = sampler.Take(target, 1000);
  ASSERT_EQ(s.metrics_lines, 1u);
  std::ofstream(path, std::ios::app) << std::string((8 << 20) + 10, 'x');
  s = sampler.Take(target, 2000);
  EXPECT_EQ(s.metrics_bad_lines, 1u) << "the long line was not skipped";
  std::ofstream(path, std::ios::app) << "\n"
                                     << R"({"net":{"rx_bytes_count":2}})"
                                     << "\n";
  s = sampler.Take(target, 3000);
  s = sampler.Take(target, 4000);
  EXPECT_EQ(s.Metric("net.rx_bytes_count"), 3) << "the lines after it were not read";
}

TEST(StatsMetricsTest, ALineIsFoldedByItsDottedNamesOrNotAtAll) {
  stats::MetricsFolder folder;
  EXPECT_TRUE(folder.Fold(
      R"( {"id":"x","properties":{"n":5},"net":{"rx_bytes_count":2.5,"tags":["a",{"b":1}],)"
      R"("ok":true,"no":null,"s":"q\"\u0041"},"vcpu":{"exit_io_in":-1e1},"latencies_us":{"load":7}} )"));
  EXPECT_EQ(folder.size(), 3u);  // no id, properties, strings, arrays or literals
  EXPECT_EQ(folder.Get("net.rx_bytes_count"), 2.5);
  EXPECT_EQ(folder.Get("vcpu.exit_io_in"), -10);
  EXPECT_EQ(folder.Get("latencies_us.load"), 7);
  EXPECT_TRUE(folder.Fold(R"({"net":{"rx_bytes_count":1},"latencies_us":{"load":3}})"));
  EXPECT_EQ(folder.Get("net.rx_bytes_count"), 3.5);  // a delta: added
  EXPECT_EQ(folder.Get("latencies_us.load"), 3);     // absolute: the latest
  // Each of these is not one JSON object: nothing of it counts, not even the
  // numbers before the fault.
  for (const char* bad :
       {R"({"net":{"rx_bytes_count":100},)", R"({"net":{"rx_bytes_count":100}} x)",
        R"({"net":{"rx_bytes_count":100,"x":tru}})", R"({"net":{"rx_bytes_count":+1}})",
        R"({"net":{"rx_bytes_count":100,"s":"\q"}})", R"([{"net":{"rx_bytes_count":100}}])",
        R"({"net":{"rx_bytes_count":100}, "a":[1,2})", "", "{"}) {
    EXPECT_FALSE(folder.Fold(bad)) << bad;
  }
  EXPECT_EQ(folder.Get("net.rx_bytes_count"), 3.5);
  std::string deep(100, '[');
  EXPECT_FALSE(folder.Fold(R"({"a":)" + deep));  // bounded depth
  // Lines in another order, with a new group: each number still finds its own total.
  EXPECT_TRUE(folder.Fold(
      R"({"latencies_us":{"load":9},"vcpu":{"exit_io_in":4},"net":{"rx_bytes_count":1}})"));
  EXPECT_TRUE(folder.Fold(
      R"({"net":{"rx_bytes_count":1},"net_eth0":{"rx_bytes_count":5},"vcpu":{"exit_io_in":4}})"));
  EXPECT_EQ(folder.Get("net.rx_bytes_count"), 5.5);
  EXPECT_EQ(folder.Get("vcpu.exit_io_in"), -2);
  EXPECT_EQ(folder.Get("net_eth0.rx_bytes_count"), 5);
  EXPECT_EQ(folder.Get("latencies_us.load"), 9);
  folder.Clear();
  EXPECT_TRUE(folder.Fold(R"({"net":{"rx_bytes_count":1}})"));
  EXPECT_EQ(folder.size(), 1u);
  EXPECT_EQ(folder.Get("net.rx_bytes_count"), 1);
}

TEST(StatsMetricsTest, ALineLikeTheLastButForItsNumbersIsFoldedTheSame) {
  stats::MetricsFolder folder;
  auto line = [](const std::string& rx, const std::string& load) {
    return R"({"id":"a","net":{"rx_bytes_count":)" + rx + R"(,"n":[1,2]},"latencies_us":{"load":)" +
           load + "}}";
  };
  ASSERT_TRUE(folder.Fold(line("1", "5")));
  EXPECT_TRUE(folder.Fold(line("12345678901234567890", "2.5e1")));  // other widths, not integers
  EXPECT_EQ(folder.Get("net.rx_bytes_count"), 1 + 12345678901234567890.0);
  EXPECT_EQ(folder.Get("latencies_us.load"), 25);
  // Numbers that are not JSON in the same places: nothing changes.
  for (const std::string& bad :
       {line("1x", "5"), line("--1", "5"), line("1", ""), line("1", "5}")}) {
    EXPECT_FALSE(folder.Fold(bad)) << bad;
  }
  EXPECT_EQ(folder.Get("net.rx_bytes_count"), 1 + 12345678901234567890.0);
  // A number that is not a metric changed (in an array): scanned in full, still right.
  EXPECT_TRUE(
      folder.Fold(R"({"id":"a","net":{"rx_bytes_count":2,"n":[1,3]},"latencies_us":{"load":4}})"));
  EXPECT_EQ(folder.Get("net.rx_bytes_count"), 3 + 12345678901234567890.0);
  EXPECT_EQ(folder.Get("latencies_us.load"), 4);
  // A key changed: a new name, not the old one's total.
  EXPECT_TRUE(
      folder.Fold(R"({"id":"a","net":{"tx_bytes_count":7,"n":[1,3]},"latencies_us":{"load":4}})"));
  EXPECT_EQ(folder.Get("net.tx_bytes_count"), 7);
  EXPECT_EQ(folder.Get("net.rx_bytes_count"), 3 + 12345678901234567890.0);
  EXPECT_EQ(folder.size(), 3u);
}

TEST(StatsMetricsTest, ItsOwnProcessIsSampledFromProc) {
  stats::VmSampler sampler;
  stats::VmTarget target{::getpid(), 0, "", "", "", "", ""};
  stats::Sample s = sampler.Take(target, 1000);
  EXPECT_TRUE(s.process_found);
  EXPECT_GT(s.rss_bytes, 1u << 20);
  EXPECT_GE(s.vsz_bytes, s.rss_bytes);
  // The same figures statm prints (read from stat, in one read with the CPU
  // ticks); the process may map a page or two in between.
  std::ifstream statm("/proc/self/statm");
  uint64_t size_pages = 0, resident_pages = 0;
  statm >> size_pages >> resident_pages;
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  EXPECT_NEAR(static_cast<double>(s.vsz_bytes), size_pages * page, 1 << 20);
  EXPECT_NEAR(static_cast<double>(s.rss_bytes), resident_pages * page, 1 << 20);
  stats::VmTarget gone{999999999, 0, "", "", "", "", ""};
  EXPECT_FALSE(stats::VmSampler().Take(gone, 1000).process_found);
}

class StatsAgentTest : public testing::AgentFixture {
 protected:
  void Start(const std::string& vmm_options) {
    InstallCapabilities({}, {"stats"});
    WriteConfig("vmm_binary = " + FcSimWith(vmm_options),
                "[plugins]\nenable = stats\n[stats]\ninterval = 200ms\ndisk_interval = 200ms\n");
    StartAgent();
  }
  double Stat(const std::string& vm, const std::string& name) {
    json j = Api("GET", "/v1/vms/" + vm);
    return j["stats"]["values"].value(name, -1.0);
  }
};

TEST_F(StatsAgentTest, MemoryCpuDiskAndFirecrackerMetricsOfARunningVm) {
  Start("--hold-mib 48 --burn-cpu 50 --metrics-interval-ms 100");
  CreateVm("web-1", 64ull << 20);
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/start")["state"], "running");
  ASSERT_TRUE(testing::WaitFor([&] {
    return Stat("web-1", "rss_bytes") >= (48ull << 20) && Stat("web-1", "cpu_usage_ratio") > 0 &&
           Stat("web-1", "cpu_seconds_total") > 0 && Stat("web-1", "fc_metrics_lines_total") > 0;
  })) << Api("GET", "/v1/vms/web-1")["stats"];
  EXPECT_GE(Stat("web-1", "vsz_bytes"), Stat("web-1", "rss_bytes"));

  // Allocated bytes follow writes to the work disk (not its apparent size).
  double before = Stat("web-1", "work_allocated_bytes");
  EXPECT_LT(before, 1 << 20);
  json vm = Api("GET", "/v1/vms/web-1");
  int fd = ::open(vm["runtime"]["work_disk_path"].get<std::string>().c_str(), O_WRONLY);
  std::string block(8 << 20, 'w');
  ASSERT_EQ(::pwrite(fd, block.data(), block.size(), 16 << 20), static_cast<ssize_t>(block.size()));
  ::fsync(fd);
  ::close(fd);
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Stat("web-1", "work_allocated_bytes") >= before + (8 << 20); }));

  // The verb: a fresh sample, with Firecracker's accumulated metrics.
  json fresh = Api("POST", "/v1/vms/web-1/stats");
  EXPECT_GE(fresh["rss_bytes"].get<double>(), 48.0 * (1 << 20)) << fresh;
  EXPECT_TRUE(fresh["firecracker"].contains("put_api_requests.boot_source_count"));
  EXPECT_GE(fresh["firecracker"]["put_api_requests.boot_source_count"].get<double>(), 1);

  // Prometheus text, through bangerctl.
  auto metrics = testing::RunCommand({BANGERCTL_PATH, "--socket", socket_, "metrics"});
  EXPECT_EQ(metrics.exit_code, 0);
  EXPECT_NE(metrics.output.find("banger_vm_rss_bytes{vm=\"web-1\",id=\"" +
                                vm["id"].get<std::string>() + "\"} "),
            std::string::npos)
      << metrics.output.substr(0, 600);
  EXPECT_NE(metrics.output.find("banger_vms{state=\"running\"} 1"), std::string::npos);
  // Firecracker's summed counts are counters, the VMM's memory a gauge.
  EXPECT_NE(metrics.output.find("# TYPE banger_vm_fc_net_rx_bytes_total counter\n"),
            std::string::npos);
  EXPECT_NE(metrics.output.find("# TYPE banger_vm_rss_bytes gauge\n"), std::string::npos);
  EXPECT_NE(
      metrics.output.find("banger_capability_hook_calls_total{capability=\"stats\",hook=\"tick\"}"),
      std::string::npos);
}

TEST_F(StatsAgentTest, OneStoreTransactionPerTickForAllVms) {
  Start("");
  for (const char* name : {"a", "b", "c"}) {
    CreateVm(name);
    ASSERT_EQ(Api("POST", std::string("/v1/vms/") + name + "/start")["state"], "running");
  }
  ASSERT_TRUE(testing::WaitFor([&] { return Stat("a", "rss_bytes") > 0; }));
  uint64_t commits = Api("GET", "/v1/info")["store_commits"];
  double first = Api("GET", "/v1/vms/a")["stats"]["collected_at_ms"];
  int ticks = 0;
  double last = first;
  ASSERT_TRUE(testing::WaitFor([&] {
    double now = Api("GET", "/v1/vms/a")["stats"]["collected_at_ms"];
    if (now != last) {
      ++ticks;
      last = now;
    }
    return ticks >= 4;
  }));
  uint64_t used = Api("GET", "/v1/info")["store_commits"].get<uint64_t>() - commits;
  // Three VMs per tick, one commit each tick (one more may land as we read).
  EXPECT_LE(used, static_cast<uint64_t>(ticks) + 1) << used << " commits for " << ticks << " ticks";
  EXPECT_GE(used, static_cast<uint64_t>(ticks));
  // And the three were written together.
  EXPECT_EQ(Api("GET", "/v1/vms/b")["stats"]["collected_at_ms"],
            Api("GET", "/v1/vms/c")["stats"]["collected_at_ms"]);
}

TEST_F(StatsAgentTest, PrometheusTextOverHttpOnALoopbackAddress) {
  // A free port: bind to 0, read it back, let it go.
  int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(probe);
  InstallCapabilities({}, {"stats"});
  WriteConfig(
      "vmm_binary = " + FcSimWith("") + "\nmetrics_listen = 127.0.0.1:" + std::to_string(port),
      "[plugins]\nenable = stats\n[stats]\ninterval = 200ms\n");
  StartAgent();
  CreateVm("web-1");
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/start")["state"], "running");
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
  ASSERT_TRUE(testing::WaitFor([&] {
    return testing::RunCommand({"curl", "-sf", url})
               .output.find("banger_vm_rss_bytes{vm=\"web-1\"") != std::string::npos;
  })) << testing::RunCommand({"curl", "-s", url}).output;
  // Only /metrics: the control API is not on TCP.
  auto other = testing::RunCommand({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                    "http://127.0.0.1:" + std::to_string(port) + "/v1/vms"});
  EXPECT_EQ(other.output, "404");
}

// Prometheus' own linter on the text a real scrape gets: every family has
// HELP and the right TYPE, counters end in _total, units are base units.
// Several capabilities publish (stats, vsock-health) and count hook calls;
// VMs in three states.
TEST_F(StatsAgentTest, PromtoolFindsNothingToLintInTheExposition) {
  if (testing::RunCommand({"promtool", "--version"}).exit_code != 0) {
    GTEST_SKIP() << "promtool is not installed (Debian: prometheus; tools/dev/install-deps.sh)";
  }
  InstallCapabilities({}, {"stats", "vsock-health", "stale-reaper"});
  WriteConfig("vmm_binary = " + FcSimWith("--burn-cpu 20 --metrics-interval-ms 100"),
              "[plugins]\nenable = stats, vsock-health, stale-reaper\n[stats]\ninterval = "
              "200ms\n[vsock-health]\ncheck_interval = 1s\n");
  StartAgent();
  for (const char* name : {"web-1", "web-2", "idle"}) CreateVm(name);
  ASSERT_EQ(Api("POST", "/v1/vms/web-1/start")["state"], "running");
  ASSERT_EQ(Api("POST", "/v1/vms/web-2/start")["state"], "running");
  ASSERT_EQ(Api("POST", "/v1/vms/web-2/stop")["state"], "stopped");
  ASSERT_TRUE(testing::WaitFor([&] { return Stat("web-1", "cpu_seconds_total") > 0; }));

  auto metrics = testing::RunCommand({BANGERCTL_PATH, "--socket", socket_, "metrics"});
  ASSERT_EQ(metrics.exit_code, 0) << metrics.output;
  EXPECT_NE(metrics.output.find("# TYPE banger_vm_cpu_seconds_total counter\n"), std::string::npos);
  EXPECT_NE(metrics.output.find("banger_vms{state=\"stopped\"} 1"), std::string::npos);
  testing::WriteFile(dir_ / "metrics.txt", metrics.output);
  auto lint = testing::RunCommand({"promtool", "check", "metrics"}, dir_ / "metrics.txt");
  EXPECT_EQ(lint.exit_code, 0) << lint.output;
  EXPECT_EQ(lint.output, "") << metrics.output;
}

// The files a VM's sampler keeps open (its metrics file among them) are
// closed at the first tick that no longer lists it running; its last
// figures stay visible; the other VMs' samplers are untouched.
TEST_F(StatsAgentTest, AStoppedVmsSamplerClosesItsFilesAndItsFiguresStay) {
  Start("--metrics-interval-ms 100");
  for (const char* name : {"a", "b"}) {
    CreateVm(name);
    ASSERT_EQ(Api("POST", std::string("/v1/vms/") + name + "/start")["state"], "running");
  }
  auto open_in_agent = [&](const std::string& path) {
    std::string fds = "/proc/" + std::to_string(agent_->pid()) + "/fd";
    int n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(fds, ec)) {
      if (std::filesystem::read_symlink(e.path(), ec) == path) ++n;
    }
    return n;
  };
  std::string a_metrics = Api("GET", "/v1/vms/a")["runtime"]["metrics_path"];
  std::string b_metrics = Api("GET", "/v1/vms/b")["runtime"]["metrics_path"];
  ASSERT_TRUE(testing::WaitFor([&] {
    return open_in_agent(a_metrics) == 1 && open_in_agent(b_metrics) == 1 &&
           Stat("a", "fc_metrics_lines_total") > 0;
  }));
  ASSERT_EQ(Api("POST", "/v1/vms/a/stop")["state"], "stopped");
  EXPECT_TRUE(testing::WaitFor([&] { return open_in_agent(a_metrics) == 0; }))
      << "the stopped VM's metrics file is still open in the agent";
  EXPECT_EQ(open_in_agent(b_metrics), 1);
  EXPECT_GT(Stat("a", "fc_metrics_lines_total"), 0) << "a stopped VM's last figures were dropped";
}

TEST_F(StatsAgentTest, TheVerbOnAStoppedVmSaysSo) {
  Start("");
  CreateVm("web-1");
  json r = Api("POST", "/v1/vms/web-1/stats");
  EXPECT_EQ(r["error"], "vm \"web-1\": stats: stats: vm \"web-1\" is created, not running");
}

}  // namespace
}  // namespace banger::core
