// VmRecord: everything the agent remembers about one VM, and the one place
// that defines how it is stored: a msgpack map with string keys and a schema
// version ("v"). Decoding keeps keys it does not know (a newer agent wrote
// them) as raw msgpack, and encoding writes them back, so an older agent
// never loses what a newer one recorded; keys that are missing take their
// defaults, so an older record upgrades cleanly. Plain value types.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/status.h"

namespace banger::core {

// 2: the record ends with "sum", a CRC-32C of every byte before that key.
inline constexpr int kVmRecordSchemaVersion = 2;

// kCreating: recorded before its files are made (the name is held); a record
// still creating when the agent starts is an interrupted create.
enum class VmState { kCreated, kStarting, kRunning, kStopping, kStopped, kError, kCreating };
std::string_view VmStateName(VmState s);  // "created", ...
// The states reports count VMs in (kCreating is transient: not among them).
inline constexpr VmState kReportedVmStates[] = {VmState::kCreated, VmState::kStarting,
                                                VmState::kRunning, VmState::kStopping,
                                                VmState::kStopped, VmState::kError};
std::optional<VmState> ParseVmState(std::string_view s);
// Starting, running or stopping: a VMM may be alive for the VM.
inline bool IsActive(VmState s) {
  return s == VmState::kStarting || s == VmState::kRunning || s == VmState::kStopping;
}

// Keys of a map this agent does not know, with their values as raw msgpack.
using UnknownFields = std::vector<std::pair<std::string, std::string>>;

struct VmSpec {
  std::string kernel_image;
  std::string rootfs;
  std::string boot_args;
  uint32_t vcpus = 1;
  uint64_t memory_mib = 128;
  uint64_t work_disk_bytes = 0;
  UnknownFields unknown;
  bool operator==(const VmSpec&) const = default;
};

struct VmRuntime {
  std::string vmm_state;  // as the VMM last reported it ("Running"), "" if unknown
  int64_t pid = 0;
  uint64_t pid_start_time = 0;  // /proc/PID/stat field 22: guards against PID reuse
  std::string api_socket;
  std::string vsock_path;
  uint32_t vsock_cid = 0;
  std::string metrics_path;
  std::string log_path;
  std::string overlay_path;
  std::string work_disk_path;
  int64_t started_at_ms = 0;  // when the VMM booted (InstanceStart); 0 when not running
  // Jailed VMMs only (empty/0 otherwise): the jail's root on the host, the
  // VMM's uid and gid, its cgroup (relative to each hierarchy) and where its
  // CPU time and memory use are read.
  std::string jail_root;
  uint32_t vmm_uid = 0;
  uint32_t vmm_gid = 0;
  std::string cgroup;
  std::string cgroup_cpu_dir;
  std::string cgroup_memory_dir;
  UnknownFields unknown;
  bool operator==(const VmRuntime&) const = default;
};

// A figure's name, interned: every VM's "rss_bytes" is the one string, so a
// VM's figures are copied as numbers, not as strings (a tick over 1,000 VMs
// copied and freed 12,000 names). A view into a process-wide pool that only
// grows, by the distinct names ever published (the figure catalog keeps
// each of them too). Thread-safe.
std::string_view InternFigureName(std::string_view name);

// A VM's latest published figures. Kept apart from the record (the store's
// stats table): they change every stats tick, the record only with the VM.
struct VmStats {
  int64_t collected_at_ms = 0;
  // In the order published; names interned (InternFigureName) or static.
  std::vector<std::pair<std::string_view, double>> values;
  UnknownFields unknown;
};

// capability -> key -> value: the durable identity of what capabilities
// created for the VM (tap device, guest IP, ...).
using VmHandles = std::map<std::string, std::map<std::string, std::string>>;

// "<capability>.<key>" -> value: what the user told capabilities about this
// VM at create (`--opt nat.egress=off`), each validated by its capability.
using VmOptions = std::map<std::string, std::string>;

struct VmRecord {
  std::string id;  // 32 lowercase hex characters (128 random bits)
  std::string name;
  VmState state = VmState::kCreated;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t last_touched_at_ms = 0;
  std::string last_error;
  std::string last_stop_reason;  // "user", "stale-reaper: untouched for 2h", ...
  int64_t stopped_at_ms = 0;
  VmSpec spec;
  VmRuntime runtime;
  VmHandles handles;
  VmOptions options;
  UnknownFields unknown;

  std::string short_id() const { return id.substr(0, 8); }
  bool operator==(const VmRecord&) const = default;
};

// A new random id (getrandom), 32 lowercase hex characters.
std::string NewVmId();
// True for 32 lowercase hex characters.
bool IsVmId(std::string_view s);

// Encodes a record (schema version kVmRecordSchemaVersion).
std::string EncodeVmRecord(const VmRecord& record);

// Decodes a blob. The error names `id_hint` (the key it was stored under)
// and says what was wrong: not msgpack, truncated, not a map, a field of the
// wrong type, a schema version this agent does not know.
Result<VmRecord> DecodeVmRecord(std::string_view blob, std::string_view id_hint);

// The same for a VM's figures (a msgpack map: collected_at, values, and any
// unknown keys kept).
std::string EncodeVmStats(const VmStats& stats);
// The same, as a view into this thread's buffer: valid until the thread's
// next encode (for a write that copies it at once, as LMDB's put does).
std::string_view EncodeVmStatsView(const VmStats& stats);
Result<VmStats> DecodeVmStats(std::string_view blob, std::string_view id_hint);

}  // namespace banger::core
