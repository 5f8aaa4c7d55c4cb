#include "core/store/vm_record.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <msgpack.hpp>
#include <span>

namespace banger::core {

namespace {

// The record's sections, as they are keyed in the encoding.
constexpr std::string_view kSpecKey = "spec";
constexpr std::string_view kRuntimeKey = "runtime";
constexpr std::string_view kHandlesKey = "handles";
constexpr std::string_view kStatsKey = "stats";

constexpr const char* kStateNames[] = {"created",  "starting", "running",
                                       "stopping", "stopped",  "error"};

using Packer = msgpack::packer<msgpack::sbuffer>;

void PackStr(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

// Writes the raw msgpack bytes of preserved unknown fields after their keys.
void PackUnknown(Packer& p, msgpack::sbuffer& buf, const UnknownFields& unknown) {
  for (const auto& [key, raw] : unknown) {
    PackStr(p, key);
    buf.write(raw.data(), raw.size());
  }
}

void PackSpec(Packer& p, msgpack::sbuffer& buf, const VmSpec& s) {
  p.pack_map(static_cast<uint32_t>(6 + s.unknown.size()));
  PackStr(p, "kernel_image");
  PackStr(p, s.kernel_image);
  PackStr(p, "rootfs");
  PackStr(p, s.rootfs);
  PackStr(p, "boot_args");
  PackStr(p, s.boot_args);
  PackStr(p, "vcpus");
  p.pack_uint32(s.vcpus);
  PackStr(p, "memory_mib");
  p.pack_uint64(s.memory_mib);
  PackStr(p, "work_disk_bytes");
  p.pack_uint64(s.work_disk_bytes);
  PackUnknown(p, buf, s.unknown);
}

void PackRuntime(Packer& p, msgpack::sbuffer& buf, const VmRuntime& r) {
  p.pack_map(static_cast<uint32_t>(11 + r.unknown.size()));
  PackStr(p, "vmm_state");
  PackStr(p, r.vmm_state);
  PackStr(p, "pid");
  p.pack_int64(r.pid);
  PackStr(p, "pid_start_time");
  p.pack_uint64(r.pid_start_time);
  PackStr(p, "api_socket");
  PackStr(p, r.api_socket);
  PackStr(p, "vsock_path");
  PackStr(p, r.vsock_path);
  PackStr(p, "vsock_cid");
  p.pack_uint32(r.vsock_cid);
  PackStr(p, "metrics_path");
  PackStr(p, r.metrics_path);
  PackStr(p, "log_path");
  PackStr(p, r.log_path);
  PackStr(p, "overlay_path");
  PackStr(p, r.overlay_path);
  PackStr(p, "work_disk_path");
  PackStr(p, r.work_disk_path);
  PackStr(p, "started_at");
  p.pack_int64(r.started_at_ms);
  PackUnknown(p, buf, r.unknown);
}

// ---- decoding ----

// Decoding walks the msgpack object tree; a type mismatch throws this, with
// the dotted path of the field, and becomes the Status of DecodeVmRecord.
struct FieldError {
  std::string message;
};

const char* TypeName(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return "nil";
    case msgpack::type::BOOLEAN:
      return "a boolean";
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER:
      return "an integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return "a float";
    case msgpack::type::STR:
      return "a string";
    case msgpack::type::BIN:
      return "binary";
    case msgpack::type::ARRAY:
      return "an array";
    case msgpack::type::MAP:
      return "a map";
    default:
      return "an extension";
  }
}

// Where a field sits ("spec" + "vcpus"); turned into text only on error.
struct Path {
  std::string_view prefix;
  std::string_view key;
  std::string str() const {
    return prefix.empty() ? std::string(key) : std::string(prefix) + "." + std::string(key);
  }
};

[[noreturn]] void Mismatch(const Path& path, const msgpack::object& o, const char* want) {
  throw FieldError{"field '" + path.str() + "' is " + TypeName(o) + ", expected " + want};
}

std::string_view Key(const msgpack::object_kv& kv, std::string_view where) {
  if (kv.key.type != msgpack::type::STR) Mismatch({where, "(key)"}, kv.key, "a string");
  return {kv.key.via.str.ptr, kv.key.via.str.size};
}

void GetStr(const msgpack::object& o, const Path& path, std::string& out) {
  if (o.type != msgpack::type::STR) Mismatch(path, o, "a string");
  out.assign(o.via.str.ptr, o.via.str.size);
}

template <typename T>
void GetUint(const msgpack::object& o, const Path& path, T& out) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) Mismatch(path, o, "an unsigned integer");
  if (o.via.u64 > std::numeric_limits<T>::max()) {
    throw FieldError{"field '" + path.str() + "' is out of range"};
  }
  out = static_cast<T>(o.via.u64);
}

void GetInt(const msgpack::object& o, const Path& path, int64_t& out) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > static_cast<uint64_t>(INT64_MAX)) {
      throw FieldError{"field '" + path.str() + "' is out of range"};
    }
    out = static_cast<int64_t>(o.via.u64);
  } else if (o.type == msgpack::type::NEGATIVE_INTEGER) {
    out = o.via.i64;
  } else {
    Mismatch(path, o, "an integer");
  }
}

double GetNumber(const msgpack::object& o, const Path& path) {
  switch (o.type) {
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return o.via.f64;
    case msgpack::type::POSITIVE_INTEGER:
      return static_cast<double>(o.via.u64);
    case msgpack::type::NEGATIVE_INTEGER:
      return static_cast<double>(o.via.i64);
    default:
      Mismatch(path, o, "a number");
  }
}

const msgpack::object_map& GetMap(const msgpack::object& o, const Path& path) {
  if (o.type != msgpack::type::MAP) Mismatch(path, o, "a map");
  return o.via.map;
}

std::string Raw(const msgpack::object& o) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, o);
  return std::string(buf.data(), buf.size());
}

void DecodeSpec(const msgpack::object& o, VmSpec& s) {
  const auto& map = GetMap(o, {"", "spec"});
  for (const auto& kv : std::span(map.ptr, map.size)) {
    std::string_view k = Key(kv, "spec");
    Path path{"spec", k};
    if (k == "kernel_image")
      GetStr(kv.val, path, s.kernel_image);
    else if (k == "rootfs")
      GetStr(kv.val, path, s.rootfs);
    else if (k == "boot_args")
      GetStr(kv.val, path, s.boot_args);
    else if (k == "vcpus")
      GetUint(kv.val, path, s.vcpus);
    else if (k == "memory_mib")
      GetUint(kv.val, path, s.memory_mib);
    else if (k == "work_disk_bytes")
      GetUint(kv.val, path, s.work_disk_bytes);
    else
      s.unknown.emplace_back(std::string(k), Raw(kv.val));
  }
}

void DecodeRuntime(const msgpack::object& o, VmRuntime& r) {
  const auto& map = GetMap(o, {"", "runtime"});
  for (const auto& kv : std::span(map.ptr, map.size)) {
    std::string_view k = Key(kv, "runtime");
    Path path{"runtime", k};
    if (k == "vmm_state")
      GetStr(kv.val, path, r.vmm_state);
    else if (k == "pid")
      GetInt(kv.val, path, r.pid);
    else if (k == "pid_start_time")
      GetUint(kv.val, path, r.pid_start_time);
    else if (k == "api_socket")
      GetStr(kv.val, path, r.api_socket);
    else if (k == "vsock_path")
      GetStr(kv.val, path, r.vsock_path);
    else if (k == "vsock_cid")
      GetUint(kv.val, path, r.vsock_cid);
    else if (k == "metrics_path")
      GetStr(kv.val, path, r.metrics_path);
    else if (k == "log_path")
      GetStr(kv.val, path, r.log_path);
    else if (k == "overlay_path")
      GetStr(kv.val, path, r.overlay_path);
    else if (k == "work_disk_path")
      GetStr(kv.val, path, r.work_disk_path);
    else if (k == "started_at")
      GetInt(kv.val, path, r.started_at_ms);
    else
      r.unknown.emplace_back(std::string(k), Raw(kv.val));
  }
}

void DecodeHandles(const msgpack::object& o, VmHandles& handles) {
  const auto& caps = GetMap(o, {"", "handles"});
  for (const auto& cap : std::span(caps.ptr, caps.size)) {
    std::string_view name = Key(cap, "handles");
    auto& dest = handles[std::string(name)];
    const auto& keys = GetMap(cap.val, {"handles", name});
    for (const auto& kv : std::span(keys.ptr, keys.size)) {
      std::string_view key = Key(kv, "handles");
      GetStr(kv.val, {"handles", key}, dest[std::string(key)]);
    }
  }
}

void DecodeStats(const msgpack::object& o, VmStats& s) {
  const auto& map = GetMap(o, {"", "stats"});
  for (const auto& kv : std::span(map.ptr, map.size)) {
    std::string_view k = Key(kv, "stats");
    if (k == "collected_at") {
      GetInt(kv.val, {"stats", k}, s.collected_at_ms);
    } else if (k == "values") {
      const auto& values = GetMap(kv.val, {"stats", k});
      s.values.reserve(values.size);
      for (const auto& v : std::span(values.ptr, values.size)) {
        std::string_view name = Key(v, "stats.values");
        double value = GetNumber(v.val, {"stats.values", name});
        s.values.emplace_back(std::string(name), value);
      }
    } else {
      s.unknown.emplace_back(std::string(k), Raw(kv.val));
    }
  }
}

}  // namespace

std::string_view VmStateName(VmState s) {
  return kStateNames[static_cast<int>(s)];
}

std::optional<VmState> ParseVmState(std::string_view s) {
  for (int i = 0; i < 6; ++i) {
    if (s == kStateNames[i]) return static_cast<VmState>(i);
  }
  return std::nullopt;
}

std::string NewVmId() {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int i = 0; i < 16; ++i) {
    id[2 * i] = kHex[bytes[i] >> 4];
    id[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return id;
}

bool IsVmId(std::string_view s) {
  if (s.size() != 32) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string EncodeVmRecord(const VmRecord& r) {
  // One buffer per thread, cleared and reused: a fresh 1 KiB buffer per
  // record made the allocator consolidate its free lists on every encode.
  thread_local msgpack::sbuffer buf(1024);
  buf.clear();
  Packer p(buf);
  p.pack_map(static_cast<uint32_t>(13 + r.unknown.size()));
  PackStr(p, "v");
  p.pack_uint32(kVmRecordSchemaVersion);
  PackStr(p, "id");
  PackStr(p, r.id);
  PackStr(p, "name");
  PackStr(p, r.name);
  PackStr(p, "state");
  PackStr(p, VmStateName(r.state));
  PackStr(p, "created_at");
  p.pack_int64(r.created_at_ms);
  PackStr(p, "updated_at");
  p.pack_int64(r.updated_at_ms);
  PackStr(p, "last_touched_at");
  p.pack_int64(r.last_touched_at_ms);
  PackStr(p, "last_error");
  PackStr(p, r.last_error);
  PackStr(p, "last_stop_reason");
  PackStr(p, r.last_stop_reason);
  PackStr(p, "stopped_at");
  p.pack_int64(r.stopped_at_ms);
  PackStr(p, kSpecKey);
  PackSpec(p, buf, r.spec);
  PackStr(p, kRuntimeKey);
  PackRuntime(p, buf, r.runtime);
  PackStr(p, kHandlesKey);
  p.pack_map(static_cast<uint32_t>(r.handles.size()));
  for (const auto& [cap, keys] : r.handles) {
    PackStr(p, cap);
    p.pack_map(static_cast<uint32_t>(keys.size()));
    for (const auto& [k, v] : keys) {
      PackStr(p, k);
      PackStr(p, v);
    }
  }
  PackUnknown(p, buf, r.unknown);
  return std::string(buf.data(), buf.size());
}

std::string EncodeVmStats(const VmStats& s) {
  thread_local msgpack::sbuffer buf(1024);
  buf.clear();
  Packer p(buf);
  p.pack_map(static_cast<uint32_t>(2 + s.unknown.size()));
  PackStr(p, "collected_at");
  p.pack_int64(s.collected_at_ms);
  PackStr(p, "values");
  p.pack_map(static_cast<uint32_t>(s.values.size()));
  for (const auto& [k, v] : s.values) {
    PackStr(p, k);
    p.pack_double(v);
  }
  PackUnknown(p, buf, s.unknown);
  return std::string(buf.data(), buf.size());
}

namespace {

// Unpacks one msgpack map that must fill the blob. `who` names it in errors
// (built only on error: decoding a listing must not allocate per record for
// messages it will not need). The object tree lives in a zone per thread,
// cleared and reused, valid until the thread's next call.
template <typename Who>
Result<msgpack::object> UnpackMap(std::string_view blob, const Who& who, const char* what) {
  thread_local msgpack::zone zone;
  zone.clear();
  msgpack::object root;
  try {
    size_t offset = 0;
    bool referenced = false;
    // Strings are referenced in place (no copy) until copied into the record.
    root = msgpack::unpack(zone, blob.data(), blob.size(), offset, referenced,
                           [](msgpack::type::object_type, std::size_t, void*) { return true; });
    if (offset != blob.size()) {
      return Status::Error(who() + ": " + std::to_string(blob.size() - offset) +
                           " stray bytes after the " + what);
    }
  } catch (const msgpack::insufficient_bytes&) {
    return Status::Error(who() + ": truncated (" + std::to_string(blob.size()) +
                         " bytes end inside the " + what + ")");
  } catch (const std::exception& e) {
    return Status::Error(who() + ": not msgpack (" + e.what() + ")");
  }
  if (root.type != msgpack::type::MAP) {
    return Status::Error(who() + ": is " + TypeName(root) + ", expected a map");
  }
  return root;
}

}  // namespace

Result<VmRecord> DecodeVmRecord(std::string_view blob, std::string_view id_hint) {
  auto who = [&] { return "vm record " + std::string(id_hint); };
  auto unpacked = UnpackMap(blob, who, "record");
  if (!unpacked) return unpacked.status();
  const msgpack::object& root = *unpacked;
  VmRecord r;
  try {
    for (const auto& kv : std::span(root.via.map.ptr, root.via.map.size)) {
      std::string_view k = Key(kv, "record");
      Path path{"", k};
      if (k == "v") {
        // A newer version is readable by design (its unknown keys are kept);
        // encoding writes this agent's version, which says which keys to expect.
        uint32_t version = 0;
        GetUint(kv.val, path, version);
      } else if (k == "id") {
        GetStr(kv.val, path, r.id);
      } else if (k == "name") {
        GetStr(kv.val, path, r.name);
      } else if (k == "state") {
        std::string s;
        GetStr(kv.val, path, s);
        auto state = ParseVmState(s);
        if (!state) throw FieldError{"field 'state' is '" + s + "', not a VM state"};
        r.state = *state;
      } else if (k == "created_at") {
        GetInt(kv.val, path, r.created_at_ms);
      } else if (k == "updated_at") {
        GetInt(kv.val, path, r.updated_at_ms);
      } else if (k == "last_touched_at") {
        GetInt(kv.val, path, r.last_touched_at_ms);
      } else if (k == "last_error") {
        GetStr(kv.val, path, r.last_error);
      } else if (k == "last_stop_reason") {
        GetStr(kv.val, path, r.last_stop_reason);
      } else if (k == "stopped_at") {
        GetInt(kv.val, path, r.stopped_at_ms);
      } else if (k == kSpecKey) {
        DecodeSpec(kv.val, r.spec);
      } else if (k == kRuntimeKey) {
        DecodeRuntime(kv.val, r.runtime);
      } else if (k == kHandlesKey) {
        DecodeHandles(kv.val, r.handles);
      } else if (k == kStatsKey) {
        // Figures were kept in the record by earlier builds; they now live
        // in the store's stats table and are published again every tick.
      } else {
        r.unknown.emplace_back(std::string(k), Raw(kv.val));
      }
    }
  } catch (const FieldError& e) {
    return Status::Error(who() + ": " + e.message);
  }
  if (r.id.empty()) return Status::Error(who() + ": has no id");
  if (r.id != id_hint && !id_hint.empty()) {
    return Status::Error(who() + ": holds id " + r.id + ", not the key it is stored under");
  }
  return r;
}

Result<VmStats> DecodeVmStats(std::string_view blob, std::string_view id_hint) {
  auto who = [&] { return "vm stats " + std::string(id_hint); };
  auto unpacked = UnpackMap(blob, who, "stats");
  if (!unpacked) return unpacked.status();
  VmStats s;
  try {
    DecodeStats(*unpacked, s);
  } catch (const FieldError& e) {
    return Status::Error(who() + ": " + e.message);
  }
  return s;
}

}  // namespace banger::core
