#include "core/api/vm_json.h"

#include "core/base/clock.h"

namespace banger::core {
namespace {

void StringMap(JsonText& w, const std::map<std::string, std::string>& m) {
  w.BeginObject();
  for (const auto& [k, v] : m) {
    w.Key(k);
    w.String(v);
  }
  w.EndObject();
}

void Spec(JsonText& w, const VmRecord& r, const VmStats*) {
  const VmSpec& s = r.spec;
  w.BeginObject();
  w.Field("kernel_image", s.kernel_image);
  w.Field("rootfs", s.rootfs);
  w.Field("boot_args", s.boot_args);
  w.Field("vcpus", s.vcpus);
  w.Field("memory_mib", s.memory_mib);
  w.Field("work_disk_bytes", s.work_disk_bytes);
  w.EndObject();
}

void Runtime(JsonText& w, const VmRecord& r, const VmStats*) {
  const VmRuntime& rt = r.runtime;
  w.BeginObject();
  w.Field("vmm_state", rt.vmm_state);
  w.Field("pid", rt.pid);
  w.Field("pid_start_time", rt.pid_start_time);
  w.Field("started_at_ms", rt.started_at_ms);
  w.Field("api_socket", rt.api_socket);
  w.Field("vsock_path", rt.vsock_path);
  w.Field("vsock_cid", rt.vsock_cid);
  w.Field("metrics_path", rt.metrics_path);
  w.Field("log_path", rt.log_path);
  w.Field("overlay_path", rt.overlay_path);
  w.Field("work_disk_path", rt.work_disk_path);
  if (!rt.jail_root.empty()) {  // jailed: the VMM's uid, root and cgroup
    w.Field("jail_root", rt.jail_root);
    w.Field("vmm_uid", rt.vmm_uid);
    w.Field("vmm_gid", rt.vmm_gid);
    w.Field("cgroup", rt.cgroup);
    w.Field("cgroup_cpu_dir", rt.cgroup_cpu_dir);
    w.Field("cgroup_memory_dir", rt.cgroup_memory_dir);
  }
  w.EndObject();
}

void Handles(JsonText& w, const VmRecord& r, const VmStats*) {
  w.BeginObject();
  for (const auto& [capability, keys] : r.handles) {
    w.Key(capability);
    StringMap(w, keys);
  }
  w.EndObject();
}

void Stats(JsonText& w, const VmRecord&, const VmStats* figures) {
  w.BeginObject();
  w.Field("collected_at_ms", figures ? figures->collected_at_ms : 0);
  w.Key("values");
  w.BeginObject();
  if (figures) {
    for (const auto& [k, v] : figures->values) {
      w.Key(k);
      w.Double(v);
    }
  }
  w.EndObject();
  w.EndObject();
}

using Writer = void (*)(JsonText&, const VmRecord&, const VmStats*);

struct Member {
  const char* name;
  Writer write;
};

// The one table of a VM's members, in the order they are written.
const Member kMembers[] = {
    {"id", [](JsonText& w, const VmRecord& r, const VmStats*) { w.String(r.id); }},
    {"short_id", [](JsonText& w, const VmRecord& r, const VmStats*) { w.String(r.short_id()); }},
    {"name", [](JsonText& w, const VmRecord& r, const VmStats*) { w.String(r.name); }},
    {"state",
     [](JsonText& w, const VmRecord& r, const VmStats*) { w.String(VmStateName(r.state)); }},
    {"created_at_ms",
     [](JsonText& w, const VmRecord& r, const VmStats*) { w.Int(r.created_at_ms); }},
    {"updated_at_ms",
     [](JsonText& w, const VmRecord& r, const VmStats*) { w.Int(r.updated_at_ms); }},
    {"last_touched_at_ms",
     [](JsonText& w, const VmRecord& r, const VmStats*) { w.Int(r.last_touched_at_ms); }},
    {"last_error", [](JsonText& w, const VmRecord& r, const VmStats*) { w.String(r.last_error); }},
    {"last_stop_reason",
     [](JsonText& w, const VmRecord& r, const VmStats*) { w.String(r.last_stop_reason); }},
    {"stopped_at_ms",
     [](JsonText& w, const VmRecord& r, const VmStats*) { w.Int(r.stopped_at_ms); }},
    {"uptime_s",
     [](JsonText& w, const VmRecord& r, const VmStats*) {
       w.Int(r.runtime.started_at_ms > 0 ? (UnixMillis() - r.runtime.started_at_ms) / 1000 : 0);
     }},
    {"spec", Spec},
    {"runtime", Runtime},
    {"handles", Handles},
    {"options", [](JsonText& w, const VmRecord& r, const VmStats*) { StringMap(w, r.options); }},
    {"stats", Stats},
};
static_assert(std::size(kMembers) == VmFields::kCount);

}  // namespace

std::string VmFieldNames() {
  std::string names;
  for (const auto& m : kMembers) names += (names.empty() ? "" : ", ") + std::string(m.name);
  return names;
}

Result<VmFields> VmFields::Parse(std::string_view list) {
  if (list.empty()) return All();
  VmFields f;
  for (size_t at = 0;;) {
    size_t comma = list.find(',', at);
    std::string_view name = list.substr(at, comma == std::string_view::npos ? comma : comma - at);
    size_t i = 0;
    while (i < kCount && name != kMembers[i].name) ++i;
    if (i == kCount) {
      return Status::Invalid("?fields: '" + std::string(name) +
                             "' is not a field of a VM; they are " + VmFieldNames());
    }
    f.bits_.set(i);
    if (comma == std::string_view::npos) return f;
    at = comma + 1;
  }
}

void AppendVmJson(JsonText& w, const VmRecord& r, const VmStats* figures, const VmFields& fields) {
  w.BeginObject();
  for (size_t i = 0; i < VmFields::kCount; ++i) {
    if (!fields.has(i)) continue;
    w.Key(kMembers[i].name);
    kMembers[i].write(w, r, figures);
  }
  w.EndObject();
}

std::string VmJsonText(const VmRecord& r, const VmStats* figures) {
  std::string out;
  out.reserve(1536);
  JsonText w(out);
  AppendVmJson(w, r, figures);
  return out;
}

}  // namespace banger::core
