#include "core/store/vm_record.h"

#include "core/base/crc32c.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <msgpack.hpp>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <type_traits>
#include <unordered_set>
#include <variant>

namespace banger::core {

namespace {

// The record's sections, as they are keyed in the encoding.
constexpr std::string_view kSpecKey = "spec";
constexpr std::string_view kRuntimeKey = "runtime";
constexpr std::string_view kHandlesKey = "handles";
constexpr std::string_view kOptionsKey = "options";
constexpr std::string_view kStatsKey = "stats";

constexpr const char* kStateNames[] = {"created", "starting", "running", "stopping",
                                       "stopped", "error",    "creating"};

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

// ---- the fields ----

// A plain field of a record section: its key in the encoding and where it
// lives. One table per section drives both encoding and decoding, so a
// field cannot be written without being read back.
template <typename S>
struct Field {
  std::string_view key;
  std::variant<std::string S::*, uint32_t S::*, uint64_t S::*, int64_t S::*> member;
};

const Field<VmSpec> kSpecFields[] = {
    {"kernel_image", &VmSpec::kernel_image}, {"rootfs", &VmSpec::rootfs},
    {"boot_args", &VmSpec::boot_args},       {"vcpus", &VmSpec::vcpus},
    {"memory_mib", &VmSpec::memory_mib},     {"work_disk_bytes", &VmSpec::work_disk_bytes},
};

const Field<VmRuntime> kRuntimeFields[] = {
    {"vmm_state", &VmRuntime::vmm_state},
    {"pid", &VmRuntime::pid},
    {"pid_start_time", &VmRuntime::pid_start_time},
    {"api_socket", &VmRuntime::api_socket},
    {"vsock_path", &VmRuntime::vsock_path},
    {"vsock_cid", &VmRuntime::vsock_cid},
    {"metrics_path", &VmRuntime::metrics_path},
    {"log_path", &VmRuntime::log_path},
    {"overlay_path", &VmRuntime::overlay_path},
    {"work_disk_path", &VmRuntime::work_disk_path},
    {"started_at", &VmRuntime::started_at_ms},
    {"jail_root", &VmRuntime::jail_root},
    {"vmm_uid", &VmRuntime::vmm_uid},
    {"vmm_gid", &VmRuntime::vmm_gid},
    {"cgroup", &VmRuntime::cgroup},
    {"cgroup_cpu_dir", &VmRuntime::cgroup_cpu_dir},
    {"cgroup_memory_dir", &VmRuntime::cgroup_memory_dir},
};

// The record's own plain fields; "v", "state" and the sections (spec,
// runtime, handles) are written and read by name below.
const Field<VmRecord> kRecordFields[] = {
    {"id", &VmRecord::id},
    {"name", &VmRecord::name},
    {"created_at", &VmRecord::created_at_ms},
    {"updated_at", &VmRecord::updated_at_ms},
    {"last_touched_at", &VmRecord::last_touched_at_ms},
    {"last_error", &VmRecord::last_error},
    {"last_stop_reason", &VmRecord::last_stop_reason},
    {"stopped_at", &VmRecord::stopped_at_ms},
};

// A struct's member count (it is an aggregate: brace-initialise it with one
// more stand-in until that no longer compiles). Checked against the tables:
// a member added to a section without a table entry does not compile.
struct AnyMember {
  template <typename T>
  operator T() const;  // NOLINT: never defined, only for the count
};
template <typename T, typename... Stand>
constexpr size_t MemberCount() {
  if constexpr (requires { T{Stand{}..., AnyMember{}}; }) {
    return MemberCount<T, Stand..., AnyMember>();
  } else {
    return sizeof...(Stand);
  }
}
// + unknown
static_assert(MemberCount<VmSpec>() == std::size(kSpecFields) + 1,
              "a VmSpec member has no entry in kSpecFields");
static_assert(MemberCount<VmRuntime>() == std::size(kRuntimeFields) + 1,
              "a VmRuntime member has no entry in kRuntimeFields");
// + state, spec, runtime, handles, options, unknown
static_assert(MemberCount<VmRecord>() == std::size(kRecordFields) + 6,
              "a VmRecord member has no entry in kRecordFields (or in EncodeVmRecord)");

template <typename S>
void PackFields(Packer& p, const S& s, std::span<const Field<S>> fields) {
  for (const auto& f : fields) {
    PackStr(p, f.key);
    std::visit(
        [&](auto member) {
          const auto& v = s.*member;
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            PackStr(p, v);
          } else if constexpr (std::is_same_v<T, uint32_t>) {
            p.pack_uint32(v);
          } else if constexpr (std::is_same_v<T, uint64_t>) {
            p.pack_uint64(v);
          } else if constexpr (std::is_same_v<T, int64_t>) {
            p.pack_int64(v);
          } else {
            static_assert(!sizeof(T), "a field type without an encoding");
          }
        },
        f.member);
  }
}

template <typename S, size_t N>
void PackSection(Packer& p, msgpack::sbuffer& buf, const S& s, const Field<S> (&fields)[N]) {
  p.pack_map(static_cast<uint32_t>(N + s.unknown.size()));
  PackFields<S>(p, s, fields);
  PackUnknown(p, buf, s.unknown);
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

// Reads `kv` into the table's field of that key. False when no field has it.
template <typename S>
bool DecodeField(const msgpack::object_kv& kv, std::string_view k, std::string_view section, S& s,
                 std::span<const Field<S>> fields) {
  for (const auto& f : fields) {
    if (f.key != k) continue;
    Path path{section, k};
    std::visit(
        [&](auto member) {
          auto& v = s.*member;
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            GetStr(kv.val, path, v);
          } else if constexpr (std::is_same_v<T, int64_t>) {
            GetInt(kv.val, path, v);
          } else if constexpr (std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>) {
            GetUint(kv.val, path, v);
          } else {
            static_assert(!sizeof(T), "a field type without a decoding");
          }
        },
        f.member);
    return true;
  }
  return false;
}

template <typename S, size_t N>
void DecodeSection(const msgpack::object& o, std::string_view section, S& s,
                   const Field<S> (&fields)[N]) {
  const auto& map = GetMap(o, {"", section});
  for (const auto& kv : std::span(map.ptr, map.size)) {
    std::string_view k = Key(kv, section);
    if (!DecodeField<S>(kv, k, section, s, fields))
      s.unknown.emplace_back(std::string(k), Raw(kv.val));
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

void DecodeOptions(const msgpack::object& o, VmOptions& options) {
  const auto& map = GetMap(o, {"", "options"});
  for (const auto& kv : std::span(map.ptr, map.size)) {
    std::string_view key = Key(kv, "options");
    GetStr(kv.val, {"options", key}, options[std::string(key)]);
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
      // Every VM's figures have the same names in the same order: the
      // previous blob's k-th name is this one's, compared, not looked up
      // (an agent opening 10,000 records interns 150,000 names otherwise).
      thread_local std::vector<std::string_view> previous;
      size_t k = 0;
      for (const auto& v : std::span(values.ptr, values.size)) {
        std::string_view name = Key(v, "stats.values");
        double value = GetNumber(v.val, {"stats.values", name});
        if (k >= previous.size()) previous.resize(k + 1);
        if (previous[k] != name) previous[k] = InternFigureName(name);
        s.values.emplace_back(previous[k], value);
        ++k;
      }
    } else {
      s.unknown.emplace_back(std::string(k), Raw(kv.val));
    }
  }
}

}  // namespace

std::string_view InternFigureName(std::string_view name) {
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Never destroyed: views of it may be read at exit.
  static auto* pool = new std::unordered_set<std::string, Hash, std::equal_to<>>();
  static auto* mu = new std::shared_mutex();
  {
    std::shared_lock lock(*mu);
    if (auto it = pool->find(name); it != pool->end()) return *it;
  }
  std::unique_lock lock(*mu);
  return *pool->emplace(name).first;  // a node's string never moves
}

std::string_view VmStateName(VmState s) {
  return kStateNames[static_cast<int>(s)];
}

std::optional<VmState> ParseVmState(std::string_view s) {
  for (int i = 0; i < static_cast<int>(std::size(kStateNames)); ++i) {
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

namespace {

// The record's last entry: "sum" and a CRC-32C of every byte before it, as
// a fixed-width msgpack uint32 (0xce + 4 bytes, big-endian), so that it is
// always the blob's last 9 bytes.
constexpr char kSumKey[] = "\xa3sum\xce";
constexpr size_t kSumBytes = 9;

void AppendChecksum(msgpack::sbuffer& buf) {
  uint32_t sum = Crc32c(std::string_view(buf.data(), buf.size()));
  char tail[kSumBytes];
  std::memcpy(tail, kSumKey, 5);
  for (int i = 0; i < 4; ++i) tail[5 + i] = static_cast<char>(sum >> (24 - 8 * i));
  buf.write(tail, sizeof tail);
}

// For a record of schema 2 or later: its sum is its last 9 bytes and holds.
std::optional<std::string> ChecksumProblem(std::string_view blob) {
  if (blob.size() < kSumBytes ||
      blob.substr(blob.size() - kSumBytes, 5) != std::string_view(kSumKey, 5)) {
    return "has no checksum where its schema puts one (its end was damaged)";
  }
  uint32_t stored = 0;
  for (size_t i = blob.size() - 4; i < blob.size(); ++i) {
    stored = (stored << 8) | static_cast<unsigned char>(blob[i]);
  }
  uint32_t computed = Crc32c(blob.substr(0, blob.size() - kSumBytes));
  if (stored == computed) return std::nullopt;
  char text[96];
  std::snprintf(text, sizeof text, "checksum mismatch (stored %08x, computed %08x)", stored,
                computed);
  return std::string(text) + ": its bytes were damaged after it was written";
}

}  // namespace

std::string EncodeVmRecord(const VmRecord& r) {
  // One buffer per thread, cleared and reused: a fresh 1 KiB buffer per
  // record made the allocator consolidate its free lists on every encode.
  thread_local msgpack::sbuffer buf(1024);
  buf.clear();
  Packer p(buf);
  p.pack_map(static_cast<uint32_t>(std::size(kRecordFields) + 7 + r.unknown.size()));
  PackStr(p, "v");
  p.pack_uint32(kVmRecordSchemaVersion);
  PackFields<VmRecord>(p, r, kRecordFields);
  PackStr(p, "state");
  PackStr(p, VmStateName(r.state));
  PackStr(p, kSpecKey);
  PackSection(p, buf, r.spec, kSpecFields);
  PackStr(p, kRuntimeKey);
  PackSection(p, buf, r.runtime, kRuntimeFields);
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
  PackStr(p, kOptionsKey);
  p.pack_map(static_cast<uint32_t>(r.options.size()));
  for (const auto& [k, v] : r.options) {
    PackStr(p, k);
    PackStr(p, v);
  }
  PackUnknown(p, buf, r.unknown);
  AppendChecksum(buf);
  return std::string(buf.data(), buf.size());
}

std::string EncodeVmStats(const VmStats& s) {
  return std::string(EncodeVmStatsView(s));
}

std::string_view EncodeVmStatsView(const VmStats& s) {
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
  return std::string_view(buf.data(), buf.size());
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
    // No container can hold more elements than the blob has bytes: a damaged
    // length (2^30 elements in a 11-byte blob) is refused before msgpack
    // allocates for it (the fuzzer's first find: 13 GB, out of memory).
    const size_t n = blob.size();
    msgpack::unpack_limit limit(n, n, n, n, n, 64);
    root = msgpack::unpack(
        zone, blob.data(), blob.size(), offset, referenced,
        [](msgpack::type::object_type, std::size_t, void*) { return true; }, nullptr, limit);
    if (offset != blob.size()) {
      return Status::Error(who() + ": " + std::to_string(blob.size() - offset) +
                           " stray bytes after the " + what);
    }
  } catch (const msgpack::depth_size_overflow&) {
    return Status::Error(who() + ": damaged (nested deeper than 64 levels)");
  } catch (const msgpack::size_overflow& e) {
    return Status::Error(who() + ": damaged (" + e.what() + ": a length larger than the " + what +
                         ")");
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
  uint32_t version = 0;
  try {
    for (const auto& kv : std::span(root.via.map.ptr, root.via.map.size)) {
      std::string_view k = Key(kv, "record");
      Path path{"", k};
      if (k == "v") {
        // A newer version is readable by design (its unknown keys are kept);
        // encoding writes this agent's version, which says which keys to expect.
        GetUint(kv.val, path, version);
      } else if (k == "sum") {
        // Checked below for schema 2 on; an older agent's rewrite keeps a
        // stale one among its unknown keys, which is dropped here.
      } else if (DecodeField<VmRecord>(kv, k, "", r, kRecordFields)) {
      } else if (k == "state") {
        std::string s;
        GetStr(kv.val, path, s);
        auto state = ParseVmState(s);
        if (!state) throw FieldError{"field 'state' is '" + s + "', not a VM state"};
        r.state = *state;
      } else if (k == kSpecKey) {
        DecodeSection(kv.val, kSpecKey, r.spec, kSpecFields);
      } else if (k == kRuntimeKey) {
        DecodeSection(kv.val, kRuntimeKey, r.runtime, kRuntimeFields);
      } else if (k == kHandlesKey) {
        DecodeHandles(kv.val, r.handles);
      } else if (k == kOptionsKey) {
        DecodeOptions(kv.val, r.options);
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
  if (version >= 2) {
    if (auto problem = ChecksumProblem(blob)) return Status::Error(who() + ": " + *problem);
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
