// The cost of sampling a VM, side by side with running `ps`, and of a whole
// stats tick over 1,000 VMs including its one store transaction.
//
//   build/bench/stats_bench [--vms=1000] [--ticks=20] [--dir=/var/tmp]
//
// Each VM's sampler keeps its /proc files open and preads them, stats the
// overlay and work disk files (st_blocks), and reads the lines appended to
// its own metrics file since the last tick (a full Firecracker line, from
// fc-sim's metrics writer, per VM per tick, appended before each timed tick). The sampled processes
// are this benchmark's own: the cost of reading /proc does not depend on which.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "core/process_runner.h"
#include "core/vm_store.h"
#include "plugins/stats/vm_sampler.h"
#include "tests/fc-sim/sim_metrics.h"

namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int vms = 1000, ticks = 20;
  std::string base = "/var/tmp";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--vms=", 0) == 0)
      vms = std::stoi(a.substr(6));
    else if (a.rfind("--ticks=", 0) == 0)
      ticks = std::stoi(a.substr(8));
    else if (a.rfind("--dir=", 0) == 0)
      base = a.substr(6);
    else {
      std::fprintf(stderr, "usage: stats_bench [--vms=N] [--ticks=N] [--dir=D]\n");
      return 2;
    }
  }
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  std::string dir = base + "/banger-stats-bench-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  pid_t self = getpid();
  // A metrics line as Firecracker writes it (every group and field, per-device
  // groups for two drives and one interface: ~340 numbers), from fc-sim's
  // metrics writer, with a few counters moving.
  std::string line;
  {
    std::string path = dir + "/one-line.json";
    std::ofstream(path).close();
    fcsim::SimMetrics writer;
    if (!writer.Open(path, false, "", {}).empty()) return 1;
    writer.AddDevice("block", "rootfs");
    writer.AddDevice("block", "work");
    writer.AddDevice("net", "eth0");
    writer.Add("net", "rx_bytes_count", 1500);
    writer.Add("block", "write_bytes", 8192);
    writer.Add("vcpu", "exit_mmio_read", 10);
    writer.Flush();
    std::ifstream in(path);
    std::getline(in, line);
    line += "\n";
  }

  // 1. One sample, warm, against one `ps` run.
  stats::VmSampler one;
  stats::VmTarget self_target{self, 0, "", "", ""};
  one.Take(self_target, 1);
  std::vector<double> sample_us;
  for (int round = 0; round < 50; ++round) {
    auto t = Clock::now();
    for (int i = 0; i < 1000; ++i) one.Take(self_target, 2 + round * 1000 + i);
    sample_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count() / 1000);
  }
  std::vector<double> ps_us;
  for (int i = 0; i < 30; ++i) {
    auto t = Clock::now();
    banger::RunProcess({"ps", "-o", "%cpu=,rss=,vsz=", "-p", std::to_string(self)},
                       std::chrono::seconds(10), [](std::string_view) {});
    ps_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }

  // 2. A tick over `vms` VMs: sample each, then one store transaction.
  auto store = banger::VmStore::Open({dir + "/store", 64u << 20});
  if (!store) return 1;
  std::vector<std::string> ids;
  std::vector<stats::VmTarget> targets;
  std::vector<std::unique_ptr<stats::VmSampler>> samplers;
  for (int i = 0; i < vms; ++i) {
    banger::VmRecord r;
    r.id = banger::NewVmId();
    r.name = "vm-" + std::to_string(i);
    r.state = banger::VmState::kRunning;
    (*store)->Upsert(r);
    ids.push_back(r.id);
    std::string d = dir + "/" + std::to_string(i);
    std::filesystem::create_directories(d);
    std::ofstream(d + "/metrics.json");
    std::ofstream(d + "/system.img");
    std::ofstream(d + "/work.img");
    targets.push_back({self, 0, d + "/metrics.json", d + "/system.img", d + "/work.img"});
    samplers.push_back(std::make_unique<stats::VmSampler>());
  }
  std::vector<double> tick_ms, sample_part_ms, quiet_tick_ms;
  for (int t = 0; t < 2 * ticks + 1; ++t) {
    // The first half: every VM has a new metrics line each tick (the worst
    // case); the second: none (Firecracker writes every 60 s, a tick is 10 s).
    bool with_lines = t <= ticks;
    if (with_lines) {
      for (int i = 0; i < vms; ++i) std::ofstream(targets[i].metrics_path, std::ios::app) << line;
    }
    auto start = Clock::now();
    std::map<std::string, std::vector<std::pair<std::string, double>>> published;
    for (int i = 0; i < vms; ++i)
      published[ids[i]] = samplers[i]->Take(targets[i], 1000 * (t + 1)).Published();
    double sampled = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    auto written = (*store)->UpdateMany(
        ids,
        [&](banger::VmRecord& r) {
          r.stats.collected_at_ms = t;
          r.stats.values = published[r.id];
          return banger::Status::Ok();
        },
        banger::VmStore::Sync::kDataOnly);  // as the agent publishes stats
    double total = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (!written || written->written != static_cast<size_t>(vms)) return 1;
    if (t > 0 && with_lines) {  // the first tick opens every file
      tick_ms.push_back(total);
      sample_part_ms.push_back(sampled);
    } else if (!with_lines) {
      quiet_tick_ms.push_back(total);
    }
  }
  double sample = Median(sample_us), ps = Median(ps_us);
  std::printf("stats benchmark\n\n");
  std::printf("%-46s %10.2f us\n", "one VM sample (fds kept, pread), median", sample);
  std::printf("%-46s %10.0f us\n", "ps -o %cpu=,rss=,vsz= -p PID (exec), median", ps);
  std::printf("%-46s %10.0fx   target >= 1000x\n", "ps / sample", ps / sample);
  std::printf("%-46s %10.2f ms   target <= 20 ms\n",
              (std::to_string(vms) + "-VM tick incl. its store transaction").c_str(),
              Median(tick_ms));
  std::printf("%-46s %10zu B\n", "  metrics line (Firecracker's groups)", line.size());
  std::printf("%-46s %10.2f ms\n", "  of which sampling (incl. metrics lines)",
              Median(sample_part_ms));
  std::printf("%-46s %10.2f ms   target <= 20 ms\n",
              (std::to_string(vms) + "-VM tick, no new metrics lines").c_str(),
              Median(quiet_tick_ms));
  std::filesystem::remove_all(dir);
  return 0;
}
