#include "core/lifecycle/vm_view.h"

namespace banger::core {

banger_vm MakeVmView(const VmRecord& r) {
  banger_vm v{};
  v.struct_size = sizeof v;
  v.id = r.id.c_str();
  v.name = r.name.c_str();
  v.state = VmStateName(r.state).data();  // a NUL-terminated literal
  v.api_socket = r.runtime.api_socket.c_str();
  v.vsock_path = r.runtime.vsock_path.c_str();
  v.metrics_path = r.runtime.metrics_path.c_str();
  v.log_path = r.runtime.log_path.c_str();
  v.overlay_path = r.runtime.overlay_path.c_str();
  v.work_disk_path = r.runtime.work_disk_path.c_str();
  v.pid = r.runtime.pid;
  v.pid_start_time = r.runtime.pid_start_time;
  v.vsock_cid = r.runtime.vsock_cid;
  v.vcpus = r.spec.vcpus;
  v.memory_mib = r.spec.memory_mib;
  v.created_at_ms = r.created_at_ms;
  v.last_touched_at_ms = r.last_touched_at_ms;
  v.vmm_uid = r.runtime.vmm_uid;
  v.vmm_gid = r.runtime.vmm_gid;
  v.cgroup_cpu_dir = r.runtime.cgroup_cpu_dir.c_str();
  v.cgroup_memory_dir = r.runtime.cgroup_memory_dir.c_str();
  return v;
}

}  // namespace banger::core
