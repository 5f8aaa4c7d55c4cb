// The cost of sampling a VM, side by side with running `ps`, and of a whole
// stats tick over 1,000 VMs as the agent runs it, including its one store
// transaction.
//
//   build/bench/stats_bench [--vms=1000] [--ticks=20] [--dir=/var/tmp]
//
// The tick is the stats capability's own (the built .so, loaded by the plugin
// host): it lists the VMs from the store, samples each — its /proc file kept
// open and preaded, the overlay and work disk fstat'ed (st_blocks), the lines
// appended to its metrics file since the last tick folded (a full
// Firecracker line, from fc-sim's metrics writer, per VM, appended before
// each timed tick) — and publishes all samples through the host table in one
// store transaction. The sampled processes are this benchmark's own: the
// cost of reading /proc does not depend on which.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "bench/bench_report.h"
#include "bench/realistic_record.h"
#include "core/agent/agent_config.h"
#include "core/base/logger.h"
#include "core/base/process_runner.h"
#include "core/lifecycle/lifecycle_backend.h"
#include "core/plugin_host/hook_dispatcher.h"
#include "core/plugin_host/host_table.h"
#include "core/plugin_host/plugin_registry.h"
#include "core/plugin_host/verb_registry.h"
#include "core/store/handle_store.h"
#include "core/store/vm_store.h"
#include "core/vmm/process_identity.h"
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
  banger::bench::BenchReport report("stats");
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (report.TakeArg(a)) continue;
    if (a.rfind("--vms=", 0) == 0)
      vms = std::stoi(a.substr(6));
    else if (a.rfind("--ticks=", 0) == 0)
      ticks = std::stoi(a.substr(8));
    else if (a.rfind("--dir=", 0) == 0)
      base = a.substr(6);
    else {
      std::fprintf(stderr, "usage: stats_bench [--vms=N] [--ticks=N] [--dir=D] [--json=PATH]\n");
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
  stats::VmTarget self_target{self, 0, "", "", "", "", ""};
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
    banger::core::RunProcess({"ps", "-o", "%cpu=,rss=,vsz=", "-p", std::to_string(self)},
                             std::chrono::seconds(10), [](std::string_view) {});
    ps_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }

  // 2. A tick over `vms` VMs as the agent runs it: the stats capability (the
  // real .so, through the plugin host) lists the VMs, samples each and
  // publishes every sample through the host table into one store
  // transaction.
  auto store = banger::core::VmStore::Open({dir + "/store", 64u << 20});
  if (!store) return 1;
  uint64_t self_start = banger::core::ProcessStartTime(self).value_or(0);
  std::vector<std::string> metrics_paths;
  std::vector<banger::core::VmRecord> records;
  for (int i = 0; i < vms; ++i) {
    banger::core::VmRecord r = banger::core::RealisticRecord(i, dir + "/vms");
    r.runtime.pid = self;  // every VM's VMM is this process (see the top)
    r.runtime.pid_start_time = self_start;
    std::filesystem::create_directories(dir + "/vms/" + r.id);
    for (const auto* path :
         {&r.runtime.metrics_path, &r.runtime.overlay_path, &r.runtime.work_disk_path}) {
      std::ofstream(*path).close();
    }
    metrics_paths.push_back(r.runtime.metrics_path);
    records.push_back(std::move(r));
  }
  if (!(*store)->UpsertMany(records)) return 1;
  auto config =
      banger::core::ParseAgentConfig(std::string("[core]\nplugin_dirs = ") + BANGER_PLUGIN_DIR +
                                         "\n[plugins]\nenable = stats\n[stats]\ninterval = 1s\n",
                                     "stats_bench");
  if (!config) return 1;
  banger::core::Logger logger(banger::core::LogLevel::kWarn, banger::core::LogFormat::kText,
                              STDERR_FILENO);
  banger::core::VerbRegistry verbs;
  banger::core::HandleStore handles(**store);
  banger::core::LifecycleBackend backend(**store, handles);
  banger::core::HostTable services(logger, verbs);
  services.AttachVmBackend(&backend);
  auto registry = banger::core::PluginRegistry::Discover(*config, {false, ::geteuid()});
  banger::core::HookDispatcher dispatcher(*registry, services, logger);
  banger::core::Plugin* plugin = registry->Find("stats");
  if (!dispatcher.InitAll() || plugin == nullptr) {
    std::fprintf(stderr, "stats_bench: the stats capability did not load from %s\n",
                 BANGER_PLUGIN_DIR);
    return 1;
  }
  std::vector<double> tick_ms, quiet_tick_ms;
  uint64_t commits_before = (*store)->commits();
  for (int t = 0; t < 2 * ticks + 1; ++t) {
    // The first half: every VM has a new metrics line each tick (the worst
    // case); the second: none (Firecracker writes every 60 s, a tick is 10 s).
    bool with_lines = t <= ticks;
    if (with_lines) {
      for (const auto& path : metrics_paths) std::ofstream(path, std::ios::app) << line;
    }
    auto start = Clock::now();
    if (!dispatcher.Tick(*plugin, 1000 * (t + 1))) return 1;
    double total = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (t > 0 && with_lines) {  // the first tick opens every file
      tick_ms.push_back(total);
    } else if (!with_lines) {
      quiet_tick_ms.push_back(total);
    }
  }
  // Every tick published every VM in one transaction.
  auto last = (*store)->Stats(records.back().id);
  if ((*store)->commits() - commits_before != static_cast<uint64_t>(2 * ticks + 1) || !last ||
      last->values.empty()) {
    std::fprintf(stderr, "stats_bench: the ticks did not publish one transaction each\n");
    return 1;
  }
  dispatcher.ShutdownAll();
  double sample = Median(sample_us), ps = Median(ps_us);
  std::printf("stats benchmark\n\n");
  std::printf("%-46s %10.2f us\n", "one VM sample (fds kept, pread), median", sample);
  std::printf("%-46s %10.0f us\n", "ps -o %cpu=,rss=,vsz= -p PID (exec), median", ps);
  std::printf("%-46s %10.0fx   target >= 1000x\n", "ps / sample", ps / sample);
  std::printf("%-46s %10.2f ms   target <= 10 ms\n",
              (std::to_string(vms) + "-VM tick, no new metrics lines").c_str(),
              Median(quiet_tick_ms));
  std::printf("%-46s %10.2f ms\n",
              (std::to_string(vms) + "-VM tick, a new metrics line each").c_str(), Median(tick_ms));
  std::printf("%-46s %10zu B\n", "  metrics line (Firecracker's groups)", line.size());
  auto& f = report.figures();
  f["vms"] = vms;
  f["ticks"] = ticks;
  f["sample_us"] = sample;
  f["ps_us"] = ps;
  f["ps_vs_sample"] = ps / sample;
  f["quiet_tick_ms"] = Median(quiet_tick_ms);
  f["line_tick_ms"] = Median(tick_ms);
  f["metrics_line_bytes"] = line.size();
  std::filesystem::remove_all(dir);
  return report.Write() ? 0 : 1;
}
