// The control socket under a crowd: 1,000 connections that send nothing and
// 100 that send one byte a second, then GET /v1/vms (10 VMs) timed 200 times
// while they stay open. Issue "Hostile clients": under 100 ms.
//
//   build/bench/control_socket_bench [--idle=1000] [--slow=100] [--dir=/var/tmp]
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "bench/agent_client.h"
#include "bench/bench_report.h"
#include "tests/test_support.h"

namespace {

using Clock = std::chrono::steady_clock;

int Connect(const std::string& socket) {
  int fd = banger::core::testing::ConnectUnix(socket);
  if (fd < 0) {
    std::perror("connect");
    std::exit(1);
  }
  return fd;
}

double Percentile(std::vector<double> v, size_t p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, v.size() * p / 100)];
}

}  // namespace

int main(int argc, char** argv) {
  int idle_n = 1000, slow_n = 100;
  std::string base = "/var/tmp";
  banger::bench::BenchReport report("control_socket");
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (report.TakeArg(a)) continue;
    if (a.rfind("--idle=", 0) == 0) {
      idle_n = std::stoi(a.substr(7));
    } else if (a.rfind("--slow=", 0) == 0) {
      slow_n = std::stoi(a.substr(7));
    } else if (a.rfind("--dir=", 0) == 0) {
      base = a.substr(6);
    } else {
      std::fprintf(stderr,
                   "usage: control_socket_bench [--idle=N] [--slow=N] [--dir=D] [--json=PATH]\n");
      return 2;
    }
  }
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &files);
  std::string dir = base + "/banger-socket-bench-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir + "/plugins");
  banger::core::testing::WriteFile(dir + "/kernel", "k");
  banger::core::testing::WriteFile(dir + "/rootfs", std::string(4096, 'r'));
  const std::string socket = dir + "/b.sock";
  banger::core::testing::WriteFile(dir + "/bangerd.conf",
                                   "[core]\nstate_dir = " + dir + "/state\nsocket = " + socket +
                                       "\nplugin_dirs = " + dir + "/plugins\nlog_level = warn\n");
  banger::core::testing::AgentProcess agent({"--config", dir + "/bangerd.conf"},
                                            dir + "/agent.log");
  if (!agent.WaitReady(socket)) return 1;
  for (int i = 0; i < 10; ++i) {
    banger::bench::CallOrExit(socket, "POST", "/v1/vms",
                              {{"name", "vm-" + std::to_string(i)},
                               {"kernel", dir + "/kernel"},
                               {"rootfs", dir + "/rootfs"}});
  }
  auto time_list = [&] { return banger::bench::TimedGetMs(socket, "/v1/vms"); };
  std::vector<double> alone;
  for (int i = 0; i < 200; ++i) alone.push_back(time_list());

  std::vector<int> idle, slow;
  for (int i = 0; i < idle_n; ++i) idle.push_back(Connect(socket));
  for (int i = 0; i < slow_n; ++i) slow.push_back(Connect(socket));
  std::atomic<bool> going{true};
  std::thread dripper([&] {
    const char* head = "GET /v1/vms HTTP/1.1\r\nHost: b\r\n\r\n";
    for (size_t at = 0; going; ++at) {
      for (int fd : slow) ::send(fd, head + at % std::strlen(head), 1, MSG_NOSIGNAL);
      for (int t = 0; t < 10 && going; ++t)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::this_thread::sleep_for(std::chrono::seconds(1));
  std::vector<double> crowded;
  for (int i = 0; i < 200; ++i) crowded.push_back(time_list());
  going = false;
  dripper.join();
  std::printf("GET /v1/vms (10 VMs), 200 calls each\n");
  std::printf("  alone:                                  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
              Percentile(alone, 50), Percentile(alone, 99), Percentile(alone, 100));
  std::printf(
      "  with %d idle and %d slow connections: p50 %.2f ms  p99 %.2f ms  max %.2f ms "
      "(target: under 100 ms)\n",
      idle_n, slow_n, Percentile(crowded, 50), Percentile(crowded, 99), Percentile(crowded, 100));
  report.figures() = {{"idle", idle_n},
                      {"slow", slow_n},
                      {"alone_p50_ms", Percentile(alone, 50)},
                      {"alone_p99_ms", Percentile(alone, 99)},
                      {"crowded_p50_ms", Percentile(crowded, 50)},
                      {"crowded_p99_ms", Percentile(crowded, 99)},
                      {"crowded_max_ms", Percentile(crowded, 100)}};
  for (int fd : idle) ::close(fd);
  for (int fd : slow) ::close(fd);
  agent.Stop(SIGTERM);
  std::filesystem::remove_all(dir);
  return report.Write() ? 0 : 1;
}
