// Many VMs under one agent: a real bangerd with fc-sim as its VMM and the
// stats capability sampling every running VM at every tick.
//
//   build/bench/scale_bench --vms=1000 [--clients=16] [--dir=/var/tmp]
//       start N VMs with the clients, then: the agent's RSS, a stats round,
//       `vm ls` under load and idle (GET /v1/vms whole, with the members
//       bangerctl asks for, and `bangerctl vm ls` as a process), a GET
//       /v1/info and one VMM's GET / for scale, the restart's reconcile with
//       N live VMMs (time until the socket serves, polled every 0.5 ms, every
//       VM re-adopted), stop all. Prints one line of JSON
//       (tools/dev/scale-bench.sh plots them; --json=PATH writes it there too).
//   build/bench/scale_bench --rounds=3 --vms=400 [--clients=16]
//       rounds of N starts and stops; the agent's RSS after each round.
//
// `vm ls` under load: one more client lists all VMs back to back while the
// clients start them; its latencies are the p50/p99.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "bench/agent_client.h"
#include "bench/bench_report.h"
#include "core/base/unix_http_client.h"
#include "tests/test_support.h"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using banger::core::testing::AgentProcess;
using banger::core::testing::WriteFile;

struct Options {
  int vms = 1000, clients = 16, rounds = 0;
  std::string dir = "/var/tmp";
};

std::string g_socket;

json Call(const std::string& method, const std::string& path, const json& body = nullptr) {
  return banger::bench::CallOrExit(g_socket, method, path, body);
}

double TimedList() {
  return banger::bench::TimedGetMs(g_socket, "/v1/vms");
}

// The members `bangerctl vm ls` asks for.
constexpr const char* kLsFields =
    "/v1/vms?fields=name,short_id,state,uptime_s,spec,handles,last_error";

// One GET / to a VMM's own API socket: what asking every VMM costs.
double TimedVmmGet(const std::string& api_socket) {
  auto t = Clock::now();
  auto r = banger::core::UnixHttpCall(api_socket, "GET", "/", "", std::chrono::seconds(5));
  if (!r.ok()) return -1;
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double Ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

double Percentile(std::vector<double> v, int p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, v.size() * static_cast<size_t>(p) / 100)];
}

// VmRSS of a process, in MiB.
double RssMib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  long kib = 0;
  while (in >> key) {
    if (key == "VmRSS:") {
      in >> kib;
      break;
    }
  }
  return kib / 1024.0;
}

// Runs body(i) for i in [0, n) over `clients` threads; wall milliseconds.
template <typename Body>
double Parallel(int n, int clients, const Body& body) {
  std::atomic<int> next{0};
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      for (int i; (i = next++) < n;) body(i);
    });
  }
  for (auto& t : threads) t.join();
  return Ms(t0);
}

std::string Name(int i) {
  return "vm-" + std::to_string(i);
}

void Expect(const json& vm, const char* state) {
  if (vm.value("state", "") != state) {
    std::fprintf(stderr, "expected %s: %s\n", state, vm.dump().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  banger::bench::BenchReport report("scale");
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* prefix) { return a.substr(std::string(prefix).size()); };
    if (report.TakeArg(a)) continue;
    if (a.rfind("--vms=", 0) == 0) {
      o.vms = std::stoi(value("--vms="));
    } else if (a.rfind("--clients=", 0) == 0) {
      o.clients = std::stoi(value("--clients="));
    } else if (a.rfind("--rounds=", 0) == 0) {
      o.rounds = std::stoi(value("--rounds="));
    } else if (a.rfind("--dir=", 0) == 0) {
      o.dir = value("--dir=");
    } else {
      std::fprintf(stderr,
                   "usage: scale_bench [--vms=N] [--clients=N] [--rounds=N] [--dir=D] "
                   "[--json=PATH]\n");
      return 2;
    }
  }
  std::string dir = o.dir + "/banger-scale-bench-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir + "/plugins");
  std::filesystem::copy_file(std::string(BANGER_PLUGIN_DIR) + "/stats.so",
                             dir + "/plugins/stats.so");
  std::string vmm = dir + "/fc-sim-fast-exit";
  WriteFile(vmm, std::string("#!/bin/sh\nexec ") + FC_SIM_PATH + " --exit-delay-ms 0 \"$@\"\n");
  std::filesystem::permissions(vmm, std::filesystem::perms(0755));
  WriteFile(dir + "/kernel", "k");
  WriteFile(dir + "/rootfs", std::string(1 << 16, 'r'));
  g_socket = dir + "/b.sock";
  // Stats samples every running VM at every tick (interval 1ms: each tick is
  // a round), so the tick's own time is a round's.
  WriteFile(dir + "/bangerd.conf", "[core]\nstate_dir = " + dir + "/state\nsocket = " + g_socket +
                                       "\nplugin_dirs = " + dir + "/plugins\nvmm_binary = " + vmm +
                                       "\nlog_level = warn\nstore_copy_interval = off\n"
                                       "[plugins]\nenable = stats\n[stats]\ninterval = 1ms\n");
  auto agent = std::make_unique<AgentProcess>(
      std::vector<std::string>{"--config", dir + "/bangerd.conf"}, dir + "/agent.log");
  if (!agent->WaitReady(g_socket)) {
    std::fprintf(stderr, "agent did not start:\n%s", agent->log().c_str());
    return 1;
  }
  json out{{"vms", o.vms}, {"clients", o.clients}};
  out["rss_empty_mib"] = RssMib(agent->pid());
  out["create_ms"] = Parallel(o.vms, o.clients, [&](int i) {
    Expect(Call("POST", "/v1/vms",
                {{"name", Name(i)},
                 {"kernel", dir + "/kernel"},
                 {"rootfs", dir + "/rootfs"},
                 {"memory_mib", 16}}),
           "created");
  });

  if (o.rounds > 0) {
    // Memory across rounds: the same work, again and again.
    json rss = json::array();
    for (int r = 0; r < o.rounds; ++r) {
      Parallel(o.vms, o.clients, [&](int i) { Call("POST", "/v1/vms/" + Name(i) + "/start"); });
      Parallel(o.vms, o.clients, [&](int i) { Call("POST", "/v1/vms/" + Name(i) + "/stop"); });
      rss.push_back(RssMib(agent->pid()));
    }
    out["rss_after_round_mib"] = rss;
    out["round_last_over_first"] = rss.back().get<double>() / rss.front().get<double>();
    std::printf("%s\n", out.dump().c_str());
    report.figures() = out;
    agent->Stop(SIGTERM);
    std::filesystem::remove_all(dir);
    return report.Write() ? 0 : 1;
  }

  // 1. Start all, while one more client lists them back to back.
  std::atomic<bool> starting{true};
  std::vector<double> ls_loaded;
  std::thread lister([&] {
    while (starting) ls_loaded.push_back(TimedList());
  });
  double start_ms = Parallel(o.vms, o.clients, [&](int i) {
    Expect(Call("POST", "/v1/vms/" + Name(i) + "/start"), "running");
  });
  starting = false;
  lister.join();
  out["start_all_ms"] = start_ms;
  out["starts_per_s"] = o.vms / (start_ms / 1000);
  out["ls_under_load_p50_ms"] = Percentile(ls_loaded, 50);
  out["ls_under_load_p99_ms"] = Percentile(ls_loaded, 99);
  out["ls_under_load_calls"] = ls_loaded.size();

  // 2. Steady state: RSS, a stats round, `vm ls` alone.
  auto tick = [&] {
    json t = Call("GET", "/v1/capabilities/stats")["stats"]["hooks"]["tick"];
    return t.is_object() ? t : json{{"calls", 0.0}, {"total_ms", 0.0}};
  };
  json before = tick();
  std::this_thread::sleep_for(std::chrono::seconds(5));
  json after = tick();
  // (No tick may have run yet when `before` is read.)
  double calls = after.value("calls", 0.0) - before.value("calls", 0.0);
  out["stats_round_ms"] =
      calls > 0 ? (after.value("total_ms", 0.0) - before.value("total_ms", 0.0)) / calls : 0;
  out["rss_running_mib"] = RssMib(agent->pid());
  std::vector<double> ls_idle, ls_fields, info, vmm_get, ctl_ls;
  for (int i = 0; i < 200; ++i) ls_idle.push_back(TimedList());
  for (int i = 0; i < 200; ++i) ls_fields.push_back(banger::bench::TimedGetMs(g_socket, kLsFields));
  for (int i = 0; i < 200; ++i) info.push_back(banger::bench::TimedGetMs(g_socket, "/v1/info"));
  json listed = Call("GET", "/v1/vms?fields=runtime");
  for (int i = 0; i < std::min(o.vms, 200); ++i) {
    vmm_get.push_back(TimedVmmGet(listed["vms"][i]["runtime"]["api_socket"]));
  }
  for (int i = 0; i < 30; ++i) {
    auto t = Clock::now();
    auto r = banger::core::testing::RunCommand({BANGERCTL_PATH, "--socket", g_socket, "vm", "ls"});
    if (r.exit_code != 0) {
      std::fprintf(stderr, "bangerctl vm ls: %s\n", r.output.c_str());
      return 1;
    }
    ctl_ls.push_back(Ms(t));
  }
  out["ls_idle_p50_ms"] = Percentile(ls_idle, 50);
  out["ls_idle_p99_ms"] = Percentile(ls_idle, 99);
  out["ls_fields_p50_ms"] = Percentile(ls_fields, 50);
  out["info_p50_ms"] = Percentile(info, 50);
  out["vmm_get_p50_ms"] = Percentile(vmm_get, 50);
  out["bangerctl_ls_p50_ms"] = Percentile(ctl_ls, 50);

  // 3. The agent killed and started again: reconcile re-adopts every VMM
  // before the socket serves.
  agent->Stop(SIGKILL);
  auto t_restart = Clock::now();
  agent = std::make_unique<AgentProcess>(
      std::vector<std::string>{"--config", dir + "/bangerd.conf", "--log-level", "info"},
      dir + "/agent2.log");
  // Polled every 0.5 ms (WaitReady's 10 ms would be most of what is measured).
  bool serving = false;
  while (!serving && Ms(t_restart) < 60000) {
    auto r = banger::core::UnixHttpCall(g_socket, "GET", "/v1/info", "", std::chrono::seconds(1));
    serving = r.ok() && r.reply.status == 200;
    if (!serving) std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  double until_serving = Ms(t_restart);
  if (!serving || !agent->WaitReady(g_socket)) {
    std::fprintf(stderr, "agent did not restart:\n%s", agent->log().c_str());
    return 1;
  }
  out["restart_until_serving_ms"] = until_serving;
  std::string log = agent->log();
  std::string expected = "reconcile at start: " + std::to_string(o.vms) + " VMs, 0 changed";
  if (log.find(expected) == std::string::npos) {
    std::fprintf(stderr, "not every VM was re-adopted as it was (want \"%s\"):\n%s",
                 expected.c_str(), log.c_str());
    return 1;
  }
  out["rss_after_restart_mib"] = RssMib(agent->pid());

  // 4. Stop all, remove all.
  out["stop_all_ms"] = Parallel(o.vms, o.clients, [&](int i) {
    Expect(Call("POST", "/v1/vms/" + Name(i) + "/stop"), "stopped");
  });
  out["rm_all_ms"] =
      Parallel(o.vms, o.clients, [&](int i) { Call("DELETE", "/v1/vms/" + Name(i)); });
  std::printf("%s\n", out.dump().c_str());
  report.figures() = out;
  agent->Stop(SIGTERM);
  std::filesystem::remove_all(dir);
  return report.Write() ? 0 : 1;
}
