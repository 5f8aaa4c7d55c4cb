// Agent overhead of VM start and stop, and start+stop throughput, measured
// against a real bangerd with fc-sim as its VMM and the recorder test
// capability (prepare/cleanup hooks that log).
//
//   build/bench/lifecycle_bench [--vms=200] [--rounds=100] [--clients=8] [--dir=/var/tmp]
//
// Overhead is what the agent itself spends, read from the stage timings it
// reports (the VMM's own boot - waiting for its API, configuring it through
// it, InstanceStart - is excluded; so is the VMM's own shutdown):
//   start: reserve + record.starting + prepare + vmm.spawn + record.running
//   stop:  record.stopping + cleanup + record.stopped, of a running VM
//          stopped as a user stops it (vmm.stop, the VMM's own shutdown
//          after SendCtrlAltDel, is reported apart; fc-sim exits at once)
// The median of each stage is printed too, and with --json=PATH all of it.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "bench/agent_client.h"
#include "bench/bench_report.h"
#include "core/base/unix_http_client.h"
#include "core/vmm/process_identity.h"
#include "tests/test_support.h"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Options {
  int vms = 200, rounds = 100, clients = 8;
  std::string dir = "/var/tmp";
};

std::string g_socket;

json Call(const std::string& method, const std::string& path, const json& body = nullptr) {
  return banger::bench::CallOrExit(g_socket, method, path, body);
}

// A streamed lifecycle call: stage name -> ms, plus the resulting VM.
std::map<std::string, double> Stages(const std::string& path, json* vm = nullptr) {
  std::map<std::string, double> stages;
  std::string pending;
  auto r = banger::core::UnixHttpStream(g_socket, "POST", path + "?stream=1", "",
                                        std::chrono::seconds(120), [&](std::string_view chunk) {
                                          pending.append(chunk);
                                          size_t nl;
                                          while ((nl = pending.find('\n')) != std::string::npos) {
                                            json e = json::parse(pending.substr(0, nl));
                                            pending.erase(0, nl + 1);
                                            if (e["event"] == "stage") stages[e["stage"]] = e["ms"];
                                            if (e["event"] == "result" && vm) *vm = e["vm"];
                                            if (e["event"] == "error") {
                                              std::fprintf(stderr, "%s\n", e.dump().c_str());
                                              std::exit(1);
                                            }
                                          }
                                        });
  if (!r.ok()) std::exit(1);
  return stages;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
double P95(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, v.size() * 95 / 100)];
}

double Sum(const std::map<std::string, double>& s, std::initializer_list<const char*> names) {
  double total = 0;
  for (const char* n : names) total += s.count(n) ? s.at(n) : 0;
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  banger::bench::BenchReport report("lifecycle");
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (report.TakeArg(a)) continue;
    auto value = [&](const char* prefix) { return a.substr(std::string(prefix).size()); };
    if (a.rfind("--vms=", 0) == 0)
      o.vms = std::stoi(value("--vms="));
    else if (a.rfind("--rounds=", 0) == 0)
      o.rounds = std::stoi(value("--rounds="));
    else if (a.rfind("--clients=", 0) == 0)
      o.clients = std::stoi(value("--clients="));
    else if (a.rfind("--dir=", 0) == 0)
      o.dir = value("--dir=");
    else {
      std::fprintf(stderr,
                   "usage: lifecycle_bench [--vms=N] [--rounds=N] [--clients=N] [--dir=D] "
                   "[--json=PATH]\n");
      return 2;
    }
  }
  std::string dir = o.dir + "/banger-lifecycle-bench-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir + "/plugins");
  std::filesystem::copy_file(std::string(BANGER_TEST_PLUGIN_DIR) + "/recorder.so",
                             dir + "/plugins/recorder.so");
  std::filesystem::permissions(dir + "/plugins/recorder.so", std::filesystem::perms(0755));
  // The "guest" shuts down at once, so a stop measures the agent, not a delay.
  std::string vmm = dir + "/fc-sim-fast-exit";
  banger::core::testing::WriteFile(
      vmm, std::string("#!/bin/sh\nexec ") + FC_SIM_PATH + " --exit-delay-ms 0 \"$@\"\n");
  std::filesystem::permissions(vmm, std::filesystem::perms(0755));
  banger::core::testing::WriteFile(dir + "/kernel", "k");
  banger::core::testing::WriteFile(dir + "/rootfs", std::string(1 << 20, 'r'));
  g_socket = dir + "/b.sock";
  banger::core::testing::WriteFile(dir + "/bangerd.conf",
                                   "[core]\nstate_dir = " + dir + "/state\nsocket = " + g_socket +
                                       "\nplugin_dirs = " + dir + "/plugins\nvmm_binary = " + vmm +
                                       "\nlog_level = warn\n[plugins]\nenable = recorder\n");
  banger::core::testing::AgentProcess agent({"--config", dir + "/bangerd.conf"},
                                            dir + "/agent.log");
  if (!agent.WaitReady(g_socket)) {
    std::fprintf(stderr, "agent did not start:\n%s", agent.log().c_str());
    return 1;
  }
  for (int i = 0; i < o.vms; ++i) {
    Call("POST", "/v1/vms",
         {{"name", "vm-" + std::to_string(i)},
          {"kernel", dir + "/kernel"},
          {"rootfs", dir + "/rootfs"}});
  }

  // 1. Sequential: a start's overhead, then a real stop's.
  std::vector<double> start_overhead, start_vmm, start_total, stop_overhead, stop_vmm;
  std::map<std::string, std::vector<double>> start_stages, stop_stages;
  for (int r = 0; r < o.rounds; ++r) {
    std::string path = "/v1/vms/vm-" + std::to_string(r % o.vms);
    json vm;
    auto t = Clock::now();
    auto s = Stages(path + "/start", &vm);
    start_total.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    start_overhead.push_back(
        Sum(s, {"reserve", "record.starting", "prepare", "vmm.spawn", "record.running"}));
    start_vmm.push_back(Sum(s, {"vmm.ready", "vmm.configure", "vmm.boot"}));
    for (auto& [k, v] : s) start_stages[k].push_back(v);
    auto st = Stages(path + "/stop", &vm);
    if (vm.value("state", "") != "stopped") {
      std::fprintf(stderr, "lifecycle_bench: the stop did not stop: %s\n", vm.dump().c_str());
      return 1;
    }
    stop_overhead.push_back(Sum(st, {"record.stopping", "cleanup", "record.stopped"}));
    stop_vmm.push_back(Sum(st, {"vmm.stop"}));
    for (auto& [k, v] : st) stop_stages[k].push_back(v);
  }

  // 2. Throughput: `clients` threads, each starting and stopping its share.
  std::atomic<int> next{0};
  auto t0 = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < o.clients; ++c) {
    clients.emplace_back([&] {
      for (int i; (i = next++) < o.vms;) {
        std::string path = "/v1/vms/vm-" + std::to_string(i);
        Call("POST", path + "/start");
        Call("POST", path + "/stop");
      }
    });
  }
  for (auto& t : clients) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();

  std::printf(
      "lifecycle benchmark: %d rounds sequential, then %d VMs by %d clients; state in %s\n\n",
      o.rounds, o.vms, o.clients, o.dir.c_str());
  std::printf("%-46s %10s %10s  %s\n", "measure", "median", "p95", "target");
  std::printf("%-46s %8.2f ms %7.2f ms  <= 1 ms median\n", "start: agent overhead",
              Median(start_overhead), P95(start_overhead));
  std::printf("%-46s %8.2f ms %7.2f ms\n", "start: VMM's own (ready + configure + boot)",
              Median(start_vmm), P95(start_vmm));
  std::printf("%-46s %8.2f ms %7.2f ms\n", "start: seen by the client (HTTP, streamed)",
              Median(start_total), P95(start_total));
  std::printf("%-46s %8.2f ms %7.2f ms  <= 2 ms median\n", "stop: agent overhead",
              Median(stop_overhead), P95(stop_overhead));
  std::printf("%-46s %8.2f ms %7.2f ms\n", "stop: the VMM's own shutdown (vmm.stop)",
              Median(stop_vmm), P95(stop_vmm));
  std::printf("%-46s %8.1f VMs/s            >= 50 VMs/s\n",
              ("start+stop, " + std::to_string(o.clients) + " parallel clients").c_str(),
              o.vms / secs);
  std::printf("\nmedian of each stage (ms)\n");
  auto& f = report.figures();
  for (auto* stages : {&start_stages, &stop_stages}) {
    const char* op = stages == &start_stages ? "start" : "stop";
    for (auto& [stage, v] : *stages) {
      std::printf("  %-5s %-20s %8.3f\n", op, stage.c_str(), Median(v));
      f["stages"][op][stage] = Median(v);
    }
  }
  f["rounds"] = o.rounds;
  f["vms"] = o.vms;
  f["clients"] = o.clients;
  f["start_overhead_ms"] = {{"median", Median(start_overhead)}, {"p95", P95(start_overhead)}};
  f["start_vmm_ms"] = {{"median", Median(start_vmm)}, {"p95", P95(start_vmm)}};
  f["start_client_ms"] = {{"median", Median(start_total)}, {"p95", P95(start_total)}};
  f["stop_overhead_ms"] = {{"median", Median(stop_overhead)}, {"p95", P95(stop_overhead)}};
  f["stop_vmm_ms"] = {{"median", Median(stop_vmm)}, {"p95", P95(stop_vmm)}};
  f["start_stop_per_s"] = o.vms / secs;
  agent.Stop(SIGTERM);
  std::filesystem::remove_all(dir);
  return report.Write() ? 0 : 1;
}
