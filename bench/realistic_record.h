// A VM record as a running CI runner's looks (spec, every runtime path, the
// tap and nat handles), for the benchmarks. The id is derived from `i`; the
// VM's files are under <vms_dir>/<id>/.
#pragma once

#include <cstdio>
#include <string>

#include "core/store/vm_record.h"

namespace banger::core {

inline VmRecord RealisticRecord(int i, const std::string& vms_dir = "/var/lib/banger/vms") {
  VmRecord r;
  char id[33];
  std::snprintf(id, sizeof id, "%08x%024x", static_cast<unsigned>(i * 2654435761u), i);
  r.id = id;
  r.name = "ci-runner-" + std::to_string(i);
  r.state = VmState::kRunning;
  r.created_at_ms = 1764126000000 + i;
  r.updated_at_ms = r.created_at_ms + 1000;
  r.last_touched_at_ms = r.created_at_ms + 2000;
  std::string dir = vms_dir + "/" + r.id;
  r.spec = {
      "/var/lib/banger/images/vmlinux-6.1.102",
      "/var/lib/banger/images/debian-12-ci.ext4",
      "console=ttyS0 reboot=k panic=1 pci=off ip=172.16.0.2::172.16.0.1:255.255.255.252::eth0:off",
      2,
      1024,
      8ull << 30,
      {}};
  r.runtime.vmm_state = "Running";
  r.runtime.pid = 100000 + i;
  r.runtime.pid_start_time = 987654321ull + i;
  r.runtime.api_socket = dir + "/firecracker.sock";
  r.runtime.vsock_path = dir + "/vsock.sock";
  r.runtime.vsock_cid = static_cast<uint32_t>(3 + i);
  r.runtime.metrics_path = dir + "/metrics.json";
  r.runtime.log_path = dir + "/vmm.log";
  r.runtime.overlay_path = dir + "/system.img";
  r.runtime.work_disk_path = dir + "/work.img";
  r.runtime.started_at_ms = r.created_at_ms + 500;
  r.handles["tap"] = {{"tap_name", "bt" + std::to_string(i)},
                      {"host_ip", "172.16." + std::to_string(i / 64) + ".1"},
                      {"guest_ip", "172.16." + std::to_string(i / 64) + ".2"},
                      {"guest_mac", "06:00:ac:10:00:02"}};
  r.handles["nat"] = {{"tap_name", "bt" + std::to_string(i)},
                      {"guest_ip", "172.16." + std::to_string(i / 64) + ".2"}};
  return r;
}

}  // namespace banger::core
