// banger capability SDK: write a capability as a C++ class (C++20, header only).
//
// The C ABI (capability.h) is what the host loads; this header builds the
// descriptor and the hook trampolines for a class and converts between C and
// C++ at the boundary: every exception thrown by the class is caught in the
// trampoline and becomes BANGER_ERROR with "unhandled exception: what()" as
// the message (a banger::SkipError becomes BANGER_SKIP with what(), a
// banger::ConfigError BANGER_INVALID with "config key K: why"). Nothing C++
// crosses the ABI.
//
//   class Hello {
//    public:
//     explicit Hello(banger::Host host) : host_(host) {}      // init
//     banger::Status Reserve(const banger::Vm& vm);            // optional (ABI 1.3)
//     banger::Status Prepare(const banger::Vm& vm);            // optional
//     banger::Status Cleanup(const banger::Vm& vm);            // optional
//     banger::Status Tick(int64_t now_unix_ms);                // optional
//     banger::Status Query(std::string_view verb, const banger::Vm& vm,
//                          std::string_view args_json, std::string& reply);
//     void Shutdown();                                         // optional
//     std::optional<std::string> Rediscover(const banger::Vm&,  // optional (ABI 1.1)
//                                           std::string_view key);
//     banger::Status ValidateOptions(                          // optional (ABI 1.2)
//         const std::vector<std::pair<std::string, std::string>>& options);
//     banger::Status Command(std::string_view verb,            // optional (ABI 1.2)
//                            std::string_view args_json, std::string& reply);
//   };
//   BANGER_CAPABILITY(Hello, (banger::Info{.name = "hello", .version = "1.0.0",
//                                          .description = "says hello"}))
//
// A hook exists in the descriptor only when the class defines the matching
// member, so the host (and `bangerctl caps`) sees exactly what it implements.
// The object is created by init (the constructor may throw) and destroyed after
// Shutdown. Thread-safety is the class's own business, per capability.h.
#ifndef BANGER_CAPABILITY_HPP_
#define BANGER_CAPABILITY_HPP_

#include <banger/capability.h>

#include <concepts>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace banger {

// Outcome of a hook: a code from capability.h plus a one-line message.
class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(BANGER_ERROR, std::move(message)); }
  static Status Skip(std::string message) { return Status(BANGER_SKIP, std::move(message)); }
  static Status Invalid(std::string message) { return Status(BANGER_INVALID, std::move(message)); }
  static Status FromCode(int code, std::string message) { return Status(code, std::move(message)); }

  bool ok() const { return code_ == BANGER_OK; }
  int code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Status(int code, std::string message) : code_(code), message_(std::move(message)) {}
  int code_ = BANGER_OK;
  std::string message_;
};

// Thrown from a constructor or hook to answer BANGER_SKIP ("cannot run here").
class SkipError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throw from the constructor (init) for a bad value in the capability's
// config section: the host reports it as "config error: FILE:LINE: [name]
// KEY: WHY", pointing the operator at the line, not "unhandled exception".
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string_view key, std::string_view why)
      : std::runtime_error("config key " + std::string(key) + ": " + std::string(why)) {}
};

// Read-only view of a banger_vm; valid only during the hook call.
class Vm {
 public:
  explicit Vm(const banger_vm* vm) : vm_(vm) {}
  std::string_view id() const { return vm_->id; }
  std::string_view name() const { return vm_->name; }
  std::string_view state() const { return vm_->state; }
  std::string_view api_socket() const { return vm_->api_socket; }
  std::string_view vsock_path() const { return vm_->vsock_path; }
  std::string_view metrics_path() const { return vm_->metrics_path; }
  std::string_view log_path() const { return vm_->log_path; }
  std::string_view overlay_path() const { return vm_->overlay_path; }
  std::string_view work_disk_path() const { return vm_->work_disk_path; }
  int64_t pid() const { return vm_->pid; }
  uint64_t pid_start_time() const { return vm_->pid_start_time; }
  uint32_t vsock_cid() const { return vm_->vsock_cid; }
  uint32_t vcpus() const { return vm_->vcpus; }
  uint64_t memory_mib() const { return vm_->memory_mib; }
  int64_t created_at_ms() const { return vm_->created_at_ms; }
  int64_t last_touched_at_ms() const { return vm_->last_touched_at_ms; }
  // 0 and "" from a host that does not jail VMMs (or predates the fields).
  uint32_t vmm_uid() const { return BANGER_HAS_FIELD(vm_, banger_vm, vmm_uid) ? vm_->vmm_uid : 0; }
  uint32_t vmm_gid() const { return BANGER_HAS_FIELD(vm_, banger_vm, vmm_gid) ? vm_->vmm_gid : 0; }
  std::string_view cgroup_cpu_dir() const {
    return BANGER_HAS_FIELD(vm_, banger_vm, cgroup_cpu_dir) && vm_->cgroup_cpu_dir
               ? vm_->cgroup_cpu_dir
               : "";
  }
  std::string_view cgroup_memory_dir() const {
    return BANGER_HAS_FIELD(vm_, banger_vm, cgroup_memory_dir) && vm_->cgroup_memory_dir
               ? vm_->cgroup_memory_dir
               : "";
  }
  const banger_vm* raw() const { return vm_; }

 private:
  const banger_vm* vm_;
};

// A copy of a VM view that outlives the callback it came from.
struct VmInfo {
  std::string id, name, state, api_socket, vsock_path, metrics_path, log_path, overlay_path,
      work_disk_path;
  int64_t pid = 0;
  uint64_t pid_start_time = 0;
  uint32_t vsock_cid = 0, vcpus = 0;
  uint64_t memory_mib = 0;
  int64_t created_at_ms = 0, last_touched_at_ms = 0;
  uint32_t vmm_uid = 0, vmm_gid = 0;
  std::string cgroup_cpu_dir, cgroup_memory_dir;

  static VmInfo From(const banger_vm& v) {
    Vm view(&v);
    return VmInfo{v.id,
                  v.name,
                  v.state,
                  v.api_socket,
                  v.vsock_path,
                  v.metrics_path,
                  v.log_path,
                  v.overlay_path,
                  v.work_disk_path,
                  v.pid,
                  v.pid_start_time,
                  v.vsock_cid,
                  v.vcpus,
                  v.memory_mib,
                  v.created_at_ms,
                  v.last_touched_at_ms,
                  view.vmm_uid(),
                  view.vmm_gid(),
                  std::string(view.cgroup_cpu_dir()),
                  std::string(view.cgroup_memory_dir())};
  }
};

// A value or the Status that explains why there is none.
template <typename T>
struct Result {
  Status status;
  T value{};
  bool ok() const { return status.ok(); }
};

struct ExecOutcome {
  int exit_code = -1;
  int term_signal = 0;
  bool timed_out = false;
  std::string output;  // stdout and stderr, interleaved
};

namespace detail {

// What the host calls back (a visitor, a writer) runs behind this: nothing
// may unwind through the host's frames. The first exception is kept and the
// callbacks after it do nothing; Rethrow raises it again once the host has
// returned, in the capability's own frames.
struct CallbackGuard {
  std::exception_ptr error;
  template <typename F>
  void Run(F&& f) noexcept {
    if (error) return;
    try {
      f();
    } catch (...) {
      error = std::current_exception();
    }
  }
  void Rethrow() const {
    if (error) std::rethrow_exception(error);
  }
};

template <typename T>
struct Guarded {
  T* target;
  CallbackGuard guard;
};

}  // namespace detail

// The host services table, wrapped. Cheap to copy (one pointer). A callback
// of ours that throws (an allocation in a visitor, the visitor given to
// ForEachVm) never unwinds through the host: the exception is rethrown here,
// after the service returns.
class Host {
 public:
  explicit Host(const banger_host* host) : host_(host) {}
  const banger_host* raw() const { return host_; }

  void Log(int level, std::string_view text) const {
    std::string s(text);
    host_->log(host_, level, s.c_str());
  }
  // This capability's own directory (banger_host.state_dir); "" from a host
  // before 1.2 or without one.
  std::string_view StateDir() const {
    return BANGER_HAS_FIELD(host_, banger_host, state_dir) && host_->state_dir ? host_->state_dir
                                                                               : "";
  }
  void Debug(std::string_view t) const { Log(BANGER_LOG_DEBUG, t); }
  void Info(std::string_view t) const { Log(BANGER_LOG_INFO, t); }
  void Warn(std::string_view t) const { Log(BANGER_LOG_WARN, t); }
  void Error(std::string_view t) const { Log(BANGER_LOG_ERROR, t); }

  // The value of `key` in this capability's config section, if set.
  std::optional<std::string> Config(const char* key) const {
    const char* value = nullptr;
    if (host_->config_get(host_, key, &value) != BANGER_OK || value == nullptr) return std::nullopt;
    return std::string(value);
  }
  std::string ConfigOr(const char* key, std::string fallback) const {
    auto v = Config(key);
    return v ? *v : std::move(fallback);
  }
  // A duration key ("500ms", "10s", "2h", "0"; see ParseDurationMs) in
  // milliseconds. Anything else throws banger::ConfigError naming the key
  // and the value: from the constructor, that fails init pointing at the
  // key's line.
  int64_t ConfigDurationMs(const char* key, const char* fallback) const;

  // A handle of this capability (capability empty) or of another one.
  // status NOT_FOUND when no source has a value.
  Result<std::string> HandleGet(std::string_view vm_id, std::string_view key,
                                std::string_view capability = {}) const {
    std::string id(vm_id), k(key), cap(capability);
    // Large enough for any value a host of 1.2 or later keeps (which says
    // how large a buffer it needs when not); an older host's values may be
    // longer: the buffer grows, up to 1 MiB.
    std::vector<char> buf(BANGER_HANDLE_VALUE_MAX + 1);
    for (int attempt = 0;; ++attempt) {
      Message m;
      int rc = host_->handle_get(host_, id.c_str(), cap.empty() ? nullptr : cap.c_str(), k.c_str(),
                                 buf.data(), buf.size(), m.get());
      size_t needed = 0;
      if (rc == BANGER_TRUNCATED && buf.size() < (size_t{1} << 20) && attempt < 8) {
        // "needs N bytes" from a 1.2 host; an older one does not say: grow.
        bool said = std::sscanf(m.str().c_str(), "needs %zu bytes", &needed) == 1 &&
                    needed > buf.size() && needed <= (size_t{1} << 20);
        buf.resize(said ? needed : buf.size() * 4);
        continue;
      }
      if (rc != BANGER_OK) return {Status::FromCode(rc, m.str()), {}};
      return {Status::Ok(), std::string(buf.data())};
    }
  }
  // The cache and the record only (handle_find): never rediscovery, never a
  // write. UNAVAILABLE from a host before 1.2.
  Result<std::string> HandleFind(std::string_view vm_id, std::string_view key,
                                 std::string_view capability = {}) const {
    if (!BANGER_HAS_FIELD(host_, banger_host, handle_find) || !host_->handle_find) {
      return {Status::FromCode(BANGER_UNAVAILABLE, "handle_find needs an ABI 1.2 agent"), {}};
    }
    std::string id(vm_id), k(key), cap(capability);
    std::vector<char> buf(BANGER_HANDLE_VALUE_MAX + 1);
    Message m;
    int rc = host_->handle_find(host_, id.c_str(), cap.empty() ? nullptr : cap.c_str(), k.c_str(),
                                buf.data(), buf.size(), m.get());
    if (rc != BANGER_OK) return {Status::FromCode(rc, m.str()), {}};
    return {Status::Ok(), std::string(buf.data())};
  }
  // This capability's per-VM option `key` (without the "<name>." prefix);
  // status NOT_FOUND when the user did not set it. UNAVAILABLE from a host
  // before 1.2.
  Result<std::string> Option(std::string_view vm_id, std::string_view key) const {
    if (!BANGER_HAS_FIELD(host_, banger_host, vm_option_get) || !host_->vm_option_get) {
      return {Status::FromCode(BANGER_UNAVAILABLE, "per-VM options need an ABI 1.2 agent"), {}};
    }
    std::string id(vm_id), k(key);
    std::vector<char> buf(BANGER_OPTION_VALUE_MAX + 1);
    Message m;
    int rc = host_->vm_option_get(host_, id.c_str(), k.c_str(), buf.data(), buf.size(), m.get());
    if (rc != BANGER_OK) return {Status::FromCode(rc, m.str()), {}};
    return {Status::Ok(), std::string(buf.data())};
  }
  std::string OptionOr(std::string_view vm_id, std::string_view key, std::string fallback) const {
    auto v = Option(vm_id, key);
    return v.ok() ? v.value : std::move(fallback);
  }
  Status HandleSet(std::string_view vm_id, std::string_view key, std::string_view value) const {
    std::string id(vm_id), k(key), v(value);
    Message m;
    int rc = host_->handle_set(host_, id.c_str(), k.c_str(), v.c_str(), m.get());
    return Status::FromCode(rc, m.str());
  }
  // Several keys in one commit (ABI 1.1 hosts; one by one on older ones).
  Status HandleSetMany(std::string_view vm_id,
                       const std::vector<std::pair<std::string, std::string>>& kv) const {
    std::string id(vm_id);
    if (!BANGER_HAS_FIELD(host_, banger_host, handle_set_many) || !host_->handle_set_many) {
      for (const auto& [k, v] : kv) {
        if (Status s = HandleSet(vm_id, k, v); !s.ok()) return s;
      }
      return Status::Ok();
    }
    std::vector<const char*> keys, values;
    for (const auto& [k, v] : kv) {
      keys.push_back(k.c_str());
      values.push_back(v.c_str());
    }
    Message m;
    int rc =
        host_->handle_set_many(host_, id.c_str(), keys.data(), values.data(), kv.size(), m.get());
    return Status::FromCode(rc, m.str());
  }
  // Clears one key, or all of this capability's keys when key is empty.
  Status HandleClear(std::string_view vm_id, std::string_view key = {}) const {
    std::string id(vm_id), k(key);
    Message m;
    int rc = host_->handle_clear(host_, id.c_str(), k.empty() ? nullptr : k.c_str(), m.get());
    return Status::FromCode(rc, m.str());
  }

  // Runs argv without a shell; status ERROR when it could not start, TIMEOUT
  // when killed at the deadline. A non-zero exit is status OK with
  // exit_code set: the caller decides what that means.
  Result<ExecOutcome> Exec(const std::vector<std::string>& argv, uint32_t timeout_ms) const {
    std::vector<const char*> cargv;
    for (const auto& a : argv) cargv.push_back(a.c_str());
    cargv.push_back(nullptr);
    ExecOutcome out;
    detail::Guarded<std::string> sink{&out.output, {}};
    banger_writer w{&sink, [](void* ctx, const char* d, size_t n) noexcept {
                      auto* s = static_cast<detail::Guarded<std::string>*>(ctx);
                      s->guard.Run([&] { s->target->append(d, n); });
                    }};
    banger_exec_result r{sizeof(banger_exec_result), -1, 0, 0};
    Message m;
    int rc = host_->exec(host_, cargv.data(), timeout_ms, &w, &r, m.get());
    sink.guard.Rethrow();
    out.exit_code = r.exit_code;
    out.term_signal = r.term_signal;
    out.timed_out = r.timed_out != 0;
    return {Status::FromCode(rc, m.str()), std::move(out)};
  }

  Result<VmInfo> GetVm(std::string_view ref) const {
    std::string r(ref);
    VmInfo info;
    detail::Guarded<VmInfo> into{&info, {}};
    Message m;
    int rc = host_->vm_get(
        host_, r.c_str(),
        [](void* u, const banger_vm* vm) noexcept {
          auto* g = static_cast<detail::Guarded<VmInfo>*>(u);
          g->guard.Run([&] { *g->target = VmInfo::From(*vm); });
        },
        &into, m.get());
    into.guard.Rethrow();
    return {Status::FromCode(rc, m.str()), std::move(info)};
  }
  Result<std::vector<VmInfo>> ListVms() const {
    std::vector<VmInfo> out;
    detail::Guarded<std::vector<VmInfo>> into{&out, {}};
    Message m;
    int rc = host_->vm_list(
        host_,
        [](void* u, const banger_vm* vm) noexcept {
          auto* g = static_cast<detail::Guarded<std::vector<VmInfo>>*>(u);
          g->guard.Run([&] { g->target->push_back(VmInfo::From(*vm)); });
        },
        &into, m.get());
    into.guard.Rethrow();
    return {Status::FromCode(rc, m.str()), std::move(out)};
  }

  // Calls visit(const Vm&) for every VM, without copying: the view is valid
  // only inside the call (copy what must outlive it, e.g. VmInfo::From). If
  // visit throws, the VMs after are skipped and the exception is rethrown
  // here once the host has returned.
  template <typename Visit>
  Status ForEachVm(Visit&& visit) const {
    static_assert(std::is_invocable_v<Visit&, const Vm&>,
                  "ForEachVm calls the visitor with a const banger::Vm&");
    using Fn = std::remove_reference_t<Visit>;  // const when given a const visitor
    detail::Guarded<Fn> g{&visit, {}};
    Message m;
    int rc = host_->vm_list(
        host_,
        [](void* u, const banger_vm* vm) noexcept {
          auto* gv = static_cast<detail::Guarded<Fn>*>(u);
          gv->guard.Run([&] { (*gv->target)(Vm(vm)); });
        },
        &g, m.get());
    g.guard.Rethrow();
    return Status::FromCode(rc, m.str());
  }

  Status AddNetworkInterface(std::string_view vm_id, std::string_view iface_id,
                             std::string_view host_dev_name, std::string_view guest_mac) const {
    std::string id(vm_id), i(iface_id), d(host_dev_name), mac(guest_mac);
    banger_net_iface n{sizeof(banger_net_iface), i.c_str(), d.c_str(), mac.c_str()};
    Message m;
    int rc = host_->vmm_add_network_interface(host_, id.c_str(), &n, m.get());
    return Status::FromCode(rc, m.str());
  }
  Status AppendBootArgs(std::string_view vm_id, std::string_view args) const {
    std::string id(vm_id), a(args);
    Message m;
    int rc = host_->vmm_append_boot_args(host_, id.c_str(), a.c_str(), m.get());
    return Status::FromCode(rc, m.str());
  }
  Status RequestStop(std::string_view vm_id, std::string_view reason) const {
    std::string id(vm_id), r(reason);
    Message m;
    int rc = host_->vm_request_stop(host_, id.c_str(), r.c_str(), m.get());
    return Status::FromCode(rc, m.str());
  }
  // A capability-wide command (`bangerctl caps NAME VERB`), answered by the
  // class's Command member. UNAVAILABLE from a host before 1.2.
  Status RegisterCommand(std::string_view verb, std::string_view summary) const {
    if (!BANGER_HAS_FIELD(host_, banger_host, command_register) || !host_->command_register) {
      return Status::FromCode(BANGER_UNAVAILABLE, "commands need an ABI 1.2 agent");
    }
    std::string v(verb), s(summary);
    Message m;
    int rc = host_->command_register(host_, v.c_str(), s.c_str(), m.get());
    return Status::FromCode(rc, m.str());
  }
  Status RegisterVerb(std::string_view verb, std::string_view summary) const {
    std::string v(verb), s(summary);
    Message m;
    int rc = host_->verb_register(host_, v.c_str(), s.c_str(), m.get());
    return Status::FromCode(rc, m.str());
  }

  // One VM's samples for PublishStats.
  struct VmSamples {
    std::string vm_id;
    std::vector<std::pair<std::string, double>> stats;
  };
  Status PublishStats(const std::vector<VmSamples>& samples) const {
    std::vector<std::vector<banger_stat>> stats(samples.size());
    std::vector<banger_vm_stats> batch;
    for (size_t i = 0; i < samples.size(); ++i) {
      for (const auto& [name, value] : samples[i].stats) stats[i].push_back({name.c_str(), value});
      batch.push_back({samples[i].vm_id.c_str(), stats[i].data(), stats[i].size()});
    }
    Message m;
    int rc = host_->stats_publish(host_, batch.data(), batch.size(), m.get());
    return Status::FromCode(rc, m.str());
  }
  // The same with the C batch itself: nothing copied, the caller owns every
  // string (a capability that publishes every tick can reuse its buffers).
  Status PublishStats(const banger_vm_stats* batch, size_t count) const {
    Message m;
    int rc = host_->stats_publish(host_, batch, count, m.get());
    return Status::FromCode(rc, m.str());
  }
  // Typed figures (counter or gauge, unit, help: banger_figure), nothing
  // copied. A host before 1.2 gets them as untyped stats (copied).
  Status PublishFigures(const banger_vm_figures* batch, size_t count) const {
    Message m;
    if (BANGER_HAS_FIELD(host_, banger_host, figures_publish) && host_->figures_publish) {
      int rc = host_->figures_publish(host_, batch, count, m.get());
      return Status::FromCode(rc, m.str());
    }
    std::vector<std::vector<banger_stat>> stats(count);
    std::vector<banger_vm_stats> plain;
    for (size_t i = 0; i < count; ++i) {
      for (size_t j = 0; j < batch[i].count; ++j) {
        stats[i].push_back({batch[i].figures[j].name, batch[i].figures[j].value});
      }
      plain.push_back({batch[i].vm_id, stats[i].data(), stats[i].size()});
    }
    return PublishStats(plain.data(), plain.size());
  }

 private:
  // A message buffer of reasonable size for service calls.
  class Message {
   public:
    Message() { text_[0] = '\0'; }
    banger_message* get() { return &msg_; }
    std::string str() const { return text_; }

   private:
    char text_[1024];
    banger_message msg_{text_, sizeof(text_)};
  };
  const banger_host* host_;
};

// `text` as a JSON string, quotes included, escaped as RFC 8259 asks: for
// building verb replies by hand ("{\"greeting\":" + JsonString(g) + "}").
// Bytes that are not UTF-8 are passed through; the host refuses a reply
// that is not valid JSON. (To parse verb args, nlohmann-json is the
// documented choice: find_package(nlohmann_json).)
inline std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  return out + "\"";
}

// Durations as config values are written: "500ms", "10s", "2m", "1h30m",
// "1d", or "0". Milliseconds, or nullopt for anything else (a bare number is
// refused: seconds or milliseconds?).
inline std::optional<int64_t> ParseDurationMs(std::string_view text) {
  if (text == "0") return 0;
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i++] - '0');
      if (n > (int64_t{1} << 40)) return std::nullopt;
    }
    size_t start = i;
    while (i < text.size() &&
           ((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z')))
      ++i;
    std::string_view unit = text.substr(start, i - start);
    if (unit == "ms")
      total += n;
    else if (unit == "s")
      total += n * 1000;
    else if (unit == "m")
      total += n * 60'000;
    else if (unit == "h")
      total += n * 3'600'000;
    else if (unit == "d")
      total += n * 86'400'000;
    else
      return std::nullopt;
  }
  return total;
}

// The shortest exact spelling of a duration in ParseDurationMs's units:
// "0s", "10s", "1m30s", "2h", "250ms".
inline std::string FormatDurationMs(int64_t ms) {
  if (ms == 0) return "0s";
  std::string out;
  for (auto [unit, suffix] :
       {std::pair<int64_t, const char*>{3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}}) {
    if (ms >= unit) {
      out += std::to_string(ms / unit) + suffix;
      ms %= unit;
    }
  }
  return out;
}

inline int64_t Host::ConfigDurationMs(const char* key, const char* fallback) const {
  std::string text = ConfigOr(key, fallback);
  auto ms = ParseDurationMs(text);
  if (!ms) {
    throw ConfigError(key, "'" + text + "' is not a duration; write it like 500ms, 10s, 2h or 0");
  }
  return *ms;
}

// What a capability says about itself; see banger_capability.
struct Info {
  const char* name = nullptr;
  const char* version = nullptr;
  const char* description = "";
  const char* const* dependencies = nullptr;  // NULL-terminated
  const banger_config_key* config_keys = nullptr;
  uint32_t tick_interval_ms = 0;
  // The oldest ABI minor this capability needs. MakeDescriptor works it out
  // from the hooks the class has (Rediscover: 1; ValidateOptions, Command:
  // 2; Reserve: 3); state more when the
  // capability cannot do without a newer service (most have a fallback in
  // Host, or report UNAVAILABLE, on an older agent).
  uint16_t abi_minor = 0;
};

namespace detail {

inline int Report(const Status& s, banger_message* msg) {
  if (!s.ok()) banger_message_set(msg, "%s", s.message().c_str());
  return s.code();
}

// Runs f, turning any exception into a status code and message.
template <typename F>
int CatchAtBoundary(banger_message* msg, F&& f) noexcept {
  try {
    return f();
  } catch (const SkipError& e) {
    banger_message_set(msg, "%s", e.what());
    return BANGER_SKIP;
  } catch (const ConfigError& e) {
    banger_message_set(msg, "%s", e.what());
    return BANGER_INVALID;
  } catch (const std::exception& e) {
    banger_message_set(msg, "unhandled exception: %s", e.what());
    return BANGER_ERROR;
  } catch (...) {
    banger_message_set(msg, "unhandled exception of unknown type");
    return BANGER_ERROR;
  }
}

template <typename T>
int Init(const banger_host* host, void** self, banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&] {
    *self = new T(Host(host));
    return BANGER_OK;
  });
}

template <typename T>
int Prepare(void* self, const banger_vm* vm, banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&] { return Report(static_cast<T*>(self)->Prepare(Vm(vm)), msg); });
}

template <typename T>
int Reserve(void* self, const banger_vm* vm, banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&] { return Report(static_cast<T*>(self)->Reserve(Vm(vm)), msg); });
}

template <typename T>
int Cleanup(void* self, const banger_vm* vm, banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&] { return Report(static_cast<T*>(self)->Cleanup(Vm(vm)), msg); });
}

template <typename T>
int Tick(void* self, int64_t now, banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&] { return Report(static_cast<T*>(self)->Tick(now), msg); });
}

template <typename T>
int Query(void* self, const char* verb, const banger_vm* vm, const char* args,
          const banger_writer* out, banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&] {
    std::string reply;
    Status s = static_cast<T*>(self)->Query(verb, Vm(vm), args ? args : "{}", reply);
    if (s.ok()) out->write(out->ctx, reply.data(), reply.size());
    return Report(s, msg);
  });
}

template <typename T>
int Command(void* self, const char* verb, const char* args, const banger_writer* out,
            banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&] {
    std::string reply;
    Status s = static_cast<T*>(self)->Command(verb, args ? args : "{}", reply);
    if (s.ok()) out->write(out->ctx, reply.data(), reply.size());
    return Report(s, msg);
  });
}

template <typename T>
int ValidateOptions(void* self, const char* const* keys, const char* const* values, size_t count,
                    banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&] {
    std::vector<std::pair<std::string, std::string>> options;
    for (size_t i = 0; i < count; ++i) options.emplace_back(keys[i], values[i]);
    return Report(static_cast<T*>(self)->ValidateOptions(options), msg);
  });
}

template <typename T>
int Rediscover(void* self, const banger_vm* vm, const char* key, char* out, size_t out_size,
               banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&] {
    std::optional<std::string> found = static_cast<T*>(self)->Rediscover(Vm(vm), key);
    if (!found) return static_cast<int>(BANGER_NOT_FOUND);
    if (found->size() >= out_size) {
      banger_message_set(msg, "rediscovered value is %zu bytes", found->size());
      return static_cast<int>(BANGER_TRUNCATED);
    }
    std::memcpy(out, found->c_str(), found->size() + 1);
    return static_cast<int>(BANGER_OK);
  });
}

template <typename T>
void Shutdown(void* self) noexcept {
  auto* obj = static_cast<T*>(self);
  try {
    if constexpr (requires(T & t) { t.Shutdown(); }) obj->Shutdown();
  } catch (...) {
    // Nothing can be reported from shutdown; the object is released anyway.
  }
  delete obj;
}

}  // namespace detail

// Builds the descriptor for T; used by BANGER_CAPABILITY.
template <typename T>
constexpr banger_capability MakeDescriptor(const Info& info) {
  banger_capability d{};
  d.struct_size = sizeof(banger_capability);
  d.abi_major = BANGER_ABI_MAJOR;
  d.abi_minor = info.abi_minor;  // raised below for each newer hook it has
  d.name = info.name;
  d.version = info.version;
  d.description = info.description;
  d.dependencies = info.dependencies;
  d.config_keys = info.config_keys;
  d.init = &detail::Init<T>;
  if constexpr (requires(T & t, const Vm& vm) {
                  { t.Prepare(vm) } -> std::same_as<Status>;
                })
    d.prepare = &detail::Prepare<T>;
  if constexpr (requires(T & t, const Vm& vm) {
                  { t.Cleanup(vm) } -> std::same_as<Status>;
                })
    d.cleanup = &detail::Cleanup<T>;
  if constexpr (requires(T & t, int64_t now) {
                  { t.Tick(now) } -> std::same_as<Status>;
                }) {
    d.tick = &detail::Tick<T>;
    d.tick_interval_ms = info.tick_interval_ms;
  }
  if constexpr (requires(T & t, std::string_view s, const Vm& vm, std::string& out) {
                  { t.Query(s, vm, s, out) } -> std::same_as<Status>;
                })
    d.query = &detail::Query<T>;
  if constexpr (requires(T & t, const Vm& vm, std::string_view key) {
                  { t.Rediscover(vm, key) } -> std::same_as<std::optional<std::string>>;
                }) {
    d.rediscover = &detail::Rediscover<T>;
    if (d.abi_minor < 1) d.abi_minor = 1;
  }
  if constexpr (requires(T & t, const Vm& vm) {
                  { t.Reserve(vm) } -> std::same_as<Status>;
                }) {
    d.reserve = &detail::Reserve<T>;
    if (d.abi_minor < 3) d.abi_minor = 3;
  }
  if constexpr (requires(T & t, std::string_view s, std::string & out) {
                  { t.Command(s, s, out) } -> std::same_as<Status>;
                }) {
    d.command = &detail::Command<T>;
    if (d.abi_minor < 2) d.abi_minor = 2;
  }
  if constexpr (requires(T & t, const std::vector<std::pair<std::string, std::string>>& o) {
                  { t.ValidateOptions(o) } -> std::same_as<Status>;
                }) {
    d.validate_options = &detail::ValidateOptions<T>;
    if (d.abi_minor < 2) d.abi_minor = 2;
  }
  d.shutdown = &detail::Shutdown<T>;
  return d;
}

}  // namespace banger

// Defines the exported entry point for capability class TYPE. INFO is a
// parenthesised banger::Info expression.
#define BANGER_CAPABILITY(TYPE, INFO)                                                 \
  extern "C" BANGER_EXPORT const banger_capability* banger_capability_entry(void) {   \
    static const banger_capability descriptor = ::banger::MakeDescriptor<TYPE>(INFO); \
    return &descriptor;                                                               \
  }

#endif  // BANGER_CAPABILITY_HPP_
