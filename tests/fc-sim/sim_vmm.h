// SimVmm: the microVM as fc-sim pretends to run it, behind Firecracker's API.
// Holds the pre-boot configuration (boot source, drives, network interfaces,
// vsock, machine config), opens what each request names when the request
// arrives (kernel, drive files, TAP devices), refuses what Firecracker
// refuses (pre-boot calls after InstanceStart, SendCtrlAltDel before it, a
// second PUT /metrics, bad bodies), and "runs" after InstanceStart: holds
// memory, burns CPU, serves vsock, writes metrics. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/api/route_table.h"
#include "core/base/unique_fd.h"
#include "tests/fc-sim/sim_metrics.h"
#include "tests/fc-sim/vsock_relay.h"

namespace fcsim {

struct SimOptions {
  std::string id = "anonymous-instance";
  std::string guest_vsock_dir;       // --guest-vsock-dir
  int metrics_interval_ms = 60000;   // --metrics-interval-ms
  bool ignore_ctrl_alt_del = false;  // --ignore-ctrl-alt-del
  int hold_mib = 0;                  // --hold-mib
  int burn_cpu_percent = 0;          // --burn-cpu
  int api_delay_ms = 0;              // --api-delay-ms: answer every request this late
  int exit_delay_ms = 100;           // after SendCtrlAltDel
  // The guest's serial console (Firecracker writes it to its stdout): boot
  // lines at InstanceStart, then this many bytes a second of console lines.
  int console_bytes_per_s = 0;  // --console-rate
  int poweroff_after_ms = 0;    // --poweroff-after-ms: the guest powers off by itself
};

class SimVmm {
 public:
  explicit SimVmm(SimOptions options);
  ~SimVmm();

  void AddRoutes(banger::core::RouteTable& routes);
  // Blocks until the guest "shut down" (SendCtrlAltDel honoured).
  void WaitForExit();

 private:
  banger::core::HttpResponse Put(const std::string& what, const banger::core::HttpRequest& req);
  banger::core::HttpResponse Dispatch(const std::string& what, const nlohmann::json& body,
                                      const banger::core::HttpRequest& req);
  banger::core::HttpResponse BootSource(const nlohmann::json& body);
  banger::core::HttpResponse Drive(const std::string& id, const nlohmann::json& body);
  banger::core::HttpResponse NetworkInterface(const std::string& id, const nlohmann::json& body);
  banger::core::HttpResponse Vsock(const nlohmann::json& body);
  banger::core::HttpResponse MachineConfig(const nlohmann::json& body);
  banger::core::HttpResponse Metrics(const nlohmann::json& body);
  banger::core::HttpResponse Logger(const nlohmann::json& body);
  banger::core::HttpResponse Action(const nlohmann::json& body);
  void StartGuest();
  void MetricsLoop();
  void BurnLoop();
  void ConsoleLoop();
  // One write of `text` to stdout (the console), unbuffered.
  static void Console(const std::string& text);

  SimOptions options_;
  std::mutex mu_;
  std::condition_variable exit_cv_;
  bool exit_requested_ = false;
  bool running_ = false;
  bool has_boot_source_ = false;
  banger::core::UniqueFd kernel_fd_;
  std::map<std::string, banger::core::UniqueFd> drives_;
  std::string root_drive_;
  std::map<std::string, banger::core::UniqueFd> taps_;
  uint32_t vcpus_ = 1;
  uint64_t mem_mib_ = 128;
  SimMetrics metrics_;
  std::unique_ptr<VsockRelay> vsock_;
  std::vector<char> held_memory_;
  std::atomic<bool> stopping_{false};
  std::string boot_args_;
  std::thread metrics_thread_, burn_thread_, console_thread_;
};

}  // namespace fcsim
