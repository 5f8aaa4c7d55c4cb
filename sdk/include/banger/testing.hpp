// banger capability SDK: a fake host for unit tests (C++20, header only).
//
// Drives a capability's hooks without an agent: the banger_host table backed
// by memory, with the real rules where they matter to a capability:
//   - handles: handle_get looks in the cache, then the VM's record, then asks
//     the capability's own rediscover hook (and records what it finds);
//     DropCache() is an agent restart, ForgetRecorded() a record that lost a
//     key; limits as the agent enforces them; inside reserve (ABI 1.3) they
//     are held and recorded only once it succeeds (Harness::Reserve, and
//     Harness::Start: reserve then prepare, as the agent starts a VM);
//   - contributions (network interfaces, boot args) only inside prepare;
//   - verb_register and command_register only inside init;
//   - per-VM options given to AddVm (not validated there: call
//     Harness::ValidateOptions, as the agent does at create);
//   - exec: each argv is recorded and answered by a handler you set;
//   - stats and figures: what was published, per VM and name;
//   - log lines, config, the state dir (a directory you give).
// Not thread-safe: one test drives one FakeHost from one thread.
//
//   #include <banger/testing.hpp>
//   banger::testing::FakeHost host("hello", {{"greeting", "hi"}});
//   banger::testing::Harness cap(banger_capability_entry(), host);
//   ASSERT_TRUE(cap.Init().ok());
//   auto& vm = host.AddVm("web");
//   auto reply = cap.Query("hello", vm.id);   // banger::Result<std::string>
#ifndef BANGER_TESTING_HPP_
#define BANGER_TESTING_HPP_

#include <banger/capability.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace banger::testing {

class Harness;

// One VM as the fake host knows it. Strings are kept here, so the
// banger_vm handed to hooks points at them.
struct FakeVm {
  std::string id, name, state = "created", api_socket, vsock_path, metrics_path, log_path,
                        overlay_path, work_disk_path, cgroup_cpu_dir, cgroup_memory_dir;
  int64_t pid = 0;
  uint64_t pid_start_time = 0;
  uint32_t vsock_cid = 0, vcpus = 1, vmm_uid = 0, vmm_gid = 0;
  uint64_t memory_mib = 128;
  int64_t created_at_ms = 0, last_touched_at_ms = 0;
  std::map<std::string, std::string> options;  // this capability's, without the prefix

  banger_vm View() const {
    banger_vm v{};
    v.struct_size = sizeof v;
    v.id = id.c_str();
    v.name = name.c_str();
    v.state = state.c_str();
    v.api_socket = api_socket.c_str();
    v.vsock_path = vsock_path.c_str();
    v.metrics_path = metrics_path.c_str();
    v.log_path = log_path.c_str();
    v.overlay_path = overlay_path.c_str();
    v.work_disk_path = work_disk_path.c_str();
    v.pid = pid;
    v.pid_start_time = pid_start_time;
    v.vsock_cid = vsock_cid;
    v.vcpus = vcpus;
    v.memory_mib = memory_mib;
    v.created_at_ms = created_at_ms;
    v.last_touched_at_ms = last_touched_at_ms;
    v.vmm_uid = vmm_uid;
    v.vmm_gid = vmm_gid;
    v.cgroup_cpu_dir = cgroup_cpu_dir.c_str();
    v.cgroup_memory_dir = cgroup_memory_dir.c_str();
    return v;
  }
};

// A published figure, as the fake host kept it.
struct FakeFigure {
  double value = 0;
  bool counter = false;  // figures_publish's kind; stats_publish: false
  std::string unit, help;
};

class FakeHost {
 public:
  explicit FakeHost(std::string capability = "test",
                    std::vector<std::pair<std::string, std::string>> config = {},
                    std::string state_dir = "")
      : name_(std::move(capability)), config_(std::move(config)), state_dir_(std::move(state_dir)) {
    t_.struct_size = sizeof t_;
    t_.abi_major = BANGER_ABI_MAJOR;
    t_.abi_minor = BANGER_ABI_MINOR;
    t_.ctx = this;
    t_.log = &Log;
    t_.config_get = &ConfigGet;
    t_.config_each = &ConfigEach;
    t_.handle_get = &HandleGet;
    t_.handle_set = &HandleSet;
    t_.handle_clear = &HandleClear;
    t_.exec = &Exec;
    t_.vm_get = &VmGet;
    t_.vm_list = &VmList;
    t_.vmm_add_network_interface = &AddInterface;
    t_.vmm_append_boot_args = &AppendBootArgs;
    t_.vm_request_stop = &RequestStop;
    t_.stats_publish = &StatsPublish;
    t_.verb_register = &VerbRegister;
    t_.handle_set_many = &HandleSetMany;
    t_.state_dir = state_dir_.c_str();
    t_.vm_option_get = &OptionGet;
    t_.handle_find = &HandleFind;
    t_.figures_publish = &FiguresPublish;
    t_.command_register = &CommandRegister;
  }
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  const banger_host* table() const { return &t_; }
  const std::string& name() const { return name_; }

  // VMs. The id is made from the name ("web" -> 32 hex digits) unless given.
  FakeVm& AddVm(const std::string& name, std::map<std::string, std::string> options = {}) {
    FakeVm vm;
    vm.name = name;
    vm.id = IdFor(name);
    vm.options = std::move(options);
    auto& slot = vms_[vm.id];
    slot = std::move(vm);
    return slot;
  }
  FakeVm* FindVm(std::string_view ref) {
    for (auto& [id, vm] : vms_) {
      if (id == ref || vm.name == ref) return &vm;
    }
    return nullptr;
  }
  void RemoveVm(const std::string& id) { vms_.erase(id); }

  // Handles. Recorded() is what the VM's record holds for this capability.
  std::optional<std::string> Recorded(const std::string& vm_id, const std::string& key) const {
    auto it = record_.find({vm_id, key});
    if (it == record_.end()) return std::nullopt;
    return it->second;
  }
  void DropCache() { cache_.clear(); }  // an agent restart
  // Another capability's handle (what a dependency such as tap recorded),
  // for handle_get and handle_find with that capability's name.
  void SetForeignHandle(const std::string& capability, const std::string& vm_id,
                        const std::string& key, const std::string& value) {
    foreign_[{capability, vm_id + "\n" + key}] = value;
  }
  // "<vm id> <key>" for each handle the capability's rediscover found.
  const std::vector<std::string>& rediscovered() const { return rediscovered_; }
  void ForgetRecorded(const std::string& vm_id, const std::string& key) {
    record_.erase({vm_id, key});
    cache_.erase({vm_id, key});
  }

  // exec: the handler answers each argv (default: exit 0, no output).
  using ExecHandler = std::function<ExecOutcome(const std::vector<std::string>& argv)>;
  void OnExec(ExecHandler handler) { exec_ = std::move(handler); }
  const std::vector<std::vector<std::string>>& exec_calls() const { return exec_calls_; }

  // What was published, per VM id and name.
  const std::map<std::string, std::map<std::string, FakeFigure>>& figures() const {
    return figures_;
  }
  std::optional<double> Figure(const std::string& vm_id, const std::string& name) const {
    auto v = figures_.find(vm_id);
    if (v == figures_.end()) return std::nullopt;
    auto f = v->second.find(name);
    if (f == v->second.end()) return std::nullopt;
    return f->second.value;
  }

  const std::vector<std::string>& logs() const { return logs_; }  // "info: text"
  bool Logged(std::string_view part) const {
    for (const auto& l : logs_) {
      if (l.find(part) != std::string::npos) return true;
    }
    return false;
  }
  const std::vector<std::string>& verbs() const { return verbs_; }
  const std::vector<std::string>& commands() const { return commands_; }
  // Contributions made in prepare, per VM id.
  const std::map<std::string, std::vector<std::string>>& interfaces() const { return ifaces_; }
  const std::map<std::string, std::string>& boot_args() const { return boot_args_; }
  const std::vector<std::pair<std::string, std::string>>& stop_requests() const { return stops_; }

 private:
  friend class Harness;

  static FakeHost& Of(const banger_host* h) { return *static_cast<FakeHost*>(h->ctx); }
  static int Fail(banger_message* msg, int code, const std::string& text) {
    banger_message_set(msg, "%s", text.c_str());
    return code;
  }
  static int Copy(banger_message* msg, const std::string& value, char* out, size_t size) {
    if (out == nullptr || size == 0) return Fail(msg, BANGER_INVALID, "no output buffer");
    std::snprintf(out, size, "%s", value.c_str());
    if (value.size() >= size) {
      return Fail(msg, BANGER_TRUNCATED,
                  "needs " + std::to_string(value.size() + 1) + " bytes (" +
                      std::to_string(value.size()) + " and the NUL); was given " +
                      std::to_string(size));
    }
    return BANGER_OK;
  }
  static std::string IdFor(const std::string& name) {
    std::string id;
    uint64_t h = 1469598103934665603ull;
    for (int round = 0; id.size() < 32; ++round) {
      for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
      h ^= static_cast<uint64_t>(round);
      char buf[17];
      std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
      id += buf;
    }
    return id.substr(0, 32);
  }

  static void Log(const banger_host* h, int level, const char* text) noexcept {
    static const char* const kLevels[] = {"debug", "info", "warn", "error"};
    try {
      Of(h).logs_.push_back(std::string(kLevels[level < 0   ? 0
                                                : level > 3 ? 3
                                                            : level]) +
                            ": " + (text ? text : ""));
    } catch (...) {
    }
  }
  static int ConfigGet(const banger_host* h, const char* key, const char** value) noexcept {
    if (key == nullptr || value == nullptr) return BANGER_INVALID;
    for (const auto& [k, v] : Of(h).config_) {
      if (k == key) {
        *value = v.c_str();
        return BANGER_OK;
      }
    }
    return BANGER_NOT_FOUND;
  }
  static int ConfigEach(const banger_host* h, banger_config_visitor visit, void* user) noexcept {
    if (visit == nullptr) return BANGER_INVALID;
    for (const auto& [k, v] : Of(h).config_) visit(user, k.c_str(), v.c_str());
    return BANGER_OK;
  }
  int Lookup(const std::string& vm_id, const std::string& key, bool rediscover, std::string* out,
             banger_message* msg) {
    if (auto c = cache_.find({vm_id, key}); c != cache_.end()) {
      *out = c->second;
      return BANGER_OK;
    }
    if (auto r = record_.find({vm_id, key}); r != record_.end()) {
      *out = cache_[{vm_id, key}] = r->second;
      return BANGER_OK;
    }
    FakeVm* vm = FindVm(vm_id);
    if (rediscover && vm != nullptr && rediscover_) {
      if (auto found = rediscover_(*vm, key)) {
        rediscovered_.push_back(vm_id + " " + key);
        *out = record_[{vm_id, key}] = cache_[{vm_id, key}] = *found;
        return BANGER_OK;
      }
    }
    return Fail(msg, BANGER_NOT_FOUND,
                "never allocated: no " + name_ + "." + key + " for vm " + vm_id +
                    " in the handle cache, the VM's record" +
                    (rediscover ? ", or by rediscovery" : ""));
  }
  // handle_get (rediscover: true) and handle_find (false).
  static int Get(const banger_host* h, const char* vm_id, const char* capability, const char* key,
                 char* out, size_t size, banger_message* msg, bool rediscover) {
    if (vm_id == nullptr || key == nullptr) return Fail(msg, BANGER_INVALID, "vm_id and key");
    FakeHost& host = Of(h);
    if (capability != nullptr && host.name_ != capability) {
      auto it = host.foreign_.find({capability, std::string(vm_id) + "\n" + key});
      if (it == host.foreign_.end()) {
        return Fail(msg, BANGER_NOT_FOUND,
                    "no " + std::string(capability) + "." + key + " for vm " + vm_id +
                        " (FakeHost::SetForeignHandle sets one)");
      }
      return Copy(msg, it->second, out, size);
    }
    std::string value;
    int rc = host.Lookup(vm_id, key, rediscover, &value, msg);
    return rc == BANGER_OK ? Copy(msg, value, out, size) : rc;
  }
  static int HandleGet(const banger_host* h, const char* vm_id, const char* capability,
                       const char* key, char* out, size_t size, banger_message* msg) noexcept {
    try {
      return Get(h, vm_id, capability, key, out, size, msg, true);
    } catch (...) {
      return Fail(msg, BANGER_ERROR, "fake host error");
    }
  }
  static int HandleFind(const banger_host* h, const char* vm_id, const char* capability,
                        const char* key, char* out, size_t size, banger_message* msg) noexcept {
    try {
      return Get(h, vm_id, capability, key, out, size, msg, false);
    } catch (...) {
      return Fail(msg, BANGER_ERROR, "fake host error");
    }
  }
  static int Check(banger_message* msg, const char* key, const char* value) {
    size_t k = std::strlen(key), v = std::strlen(value);
    if (k == 0 || k > BANGER_HANDLE_KEY_MAX) return Fail(msg, BANGER_INVALID, "key length");
    if (v > BANGER_HANDLE_VALUE_MAX) return Fail(msg, BANGER_INVALID, "value length");
    return BANGER_OK;
  }
  static int HandleSet(const banger_host* h, const char* vm_id, const char* key, const char* value,
                       banger_message* msg) noexcept {
    if (!vm_id || !key || !value) return Fail(msg, BANGER_INVALID, "vm_id, key and value");
    if (int bad = Check(msg, key, value); bad != BANGER_OK) return bad;
    FakeHost& host = Of(h);
    if (host.FindVm(vm_id) == nullptr) return Fail(msg, BANGER_NOT_FOUND, "no such VM");
    if (host.holding_ == vm_id) {
      // Inside reserve: held in the cache until the start records them.
      host.cache_[{vm_id, key}] = value;
      host.held_.emplace_back(key, value);
      return BANGER_OK;
    }
    host.record_[{vm_id, key}] = host.cache_[{vm_id, key}] = value;
    return BANGER_OK;
  }
  static int HandleSetMany(const banger_host* h, const char* vm_id, const char* const* keys,
                           const char* const* values, size_t count, banger_message* msg) noexcept {
    for (size_t i = 0; i < count; ++i) {
      if (!keys[i] || !values[i]) return Fail(msg, BANGER_INVALID, "a key or value is NULL");
      if (int bad = Check(msg, keys[i], values[i]); bad != BANGER_OK) return bad;
    }
    for (size_t i = 0; i < count; ++i) {
      if (int rc = HandleSet(h, vm_id, keys[i], values[i], msg); rc != BANGER_OK) return rc;
    }
    return BANGER_OK;
  }
  static int HandleClear(const banger_host* h, const char* vm_id, const char* key,
                         banger_message* msg) noexcept {
    if (vm_id == nullptr) return Fail(msg, BANGER_INVALID, "vm_id");
    FakeHost& host = Of(h);
    if (host.holding_ == vm_id) host.held_.emplace_back(key ? key : "", std::nullopt);
    for (auto* m : host.holding_ == vm_id ? std::vector{&host.cache_}
                                          : std::vector{&host.record_, &host.cache_}) {
      for (auto it = m->begin(); it != m->end();) {
        bool match = it->first.first == vm_id && (key == nullptr || it->first.second == key);
        it = match ? m->erase(it) : std::next(it);
      }
    }
    return BANGER_OK;
  }
  static int Exec(const banger_host* h, const char* const* argv, uint32_t, const banger_writer* out,
                  banger_exec_result* result, banger_message* msg) noexcept {
    if (argv == nullptr || argv[0] == nullptr) return Fail(msg, BANGER_INVALID, "empty argv");
    FakeHost& host = Of(h);
    std::vector<std::string> args;
    for (auto a = argv; *a; ++a) args.emplace_back(*a);
    host.exec_calls_.push_back(args);
    ExecOutcome o;
    o.exit_code = 0;
    if (host.exec_) o = host.exec_(args);
    if (out && !o.output.empty()) out->write(out->ctx, o.output.data(), o.output.size());
    if (result) {
      result->exit_code = o.exit_code;
      result->term_signal = o.term_signal;
      result->timed_out = o.timed_out ? 1 : 0;
    }
    return o.timed_out ? Fail(msg, BANGER_TIMEOUT, "timed out") : BANGER_OK;
  }
  static int VmGet(const banger_host* h, const char* ref, banger_vm_visitor visit, void* user,
                   banger_message* msg) noexcept {
    FakeVm* vm = ref ? Of(h).FindVm(ref) : nullptr;
    if (vm == nullptr) return Fail(msg, BANGER_NOT_FOUND, "no VM " + std::string(ref ? ref : ""));
    banger_vm view = vm->View();
    visit(user, &view);
    return BANGER_OK;
  }
  static int VmList(const banger_host* h, banger_vm_visitor visit, void* user,
                    banger_message*) noexcept {
    for (auto& [id, vm] : Of(h).vms_) {
      banger_vm view = vm.View();
      visit(user, &view);
    }
    return BANGER_OK;
  }
  static int AddInterface(const banger_host* h, const char* vm_id, const banger_net_iface* iface,
                          banger_message* msg) noexcept {
    FakeHost& host = Of(h);
    if (host.preparing_ != (vm_id ? vm_id : "")) {
      return Fail(msg, BANGER_INVALID, "allowed only inside this capability's prepare of that VM");
    }
    host.ifaces_[vm_id].push_back(std::string(iface->iface_id) + "=" + iface->host_dev_name);
    return BANGER_OK;
  }
  static int AppendBootArgs(const banger_host* h, const char* vm_id, const char* args,
                            banger_message* msg) noexcept {
    FakeHost& host = Of(h);
    if (host.preparing_ != (vm_id ? vm_id : "")) {
      return Fail(msg, BANGER_INVALID, "allowed only inside this capability's prepare of that VM");
    }
    auto& all = host.boot_args_[vm_id];
    all += (all.empty() ? "" : " ") + std::string(args);
    return BANGER_OK;
  }
  static int RequestStop(const banger_host* h, const char* vm_id, const char* reason,
                         banger_message* msg) noexcept {
    FakeHost& host = Of(h);
    FakeVm* vm = vm_id ? host.FindVm(vm_id) : nullptr;
    if (vm == nullptr) return Fail(msg, BANGER_NOT_FOUND, "no such VM");
    host.stops_.emplace_back(vm_id, reason ? reason : "");
    vm->state = "stopped";
    return BANGER_OK;
  }
  static int StatsPublish(const banger_host* h, const banger_vm_stats* batch, size_t count,
                          banger_message* msg) noexcept {
    for (size_t i = 0; i < count; ++i) {
      if (!batch[i].vm_id) return Fail(msg, BANGER_INVALID, "no vm_id");
      for (size_t j = 0; j < batch[i].count; ++j) {
        if (!batch[i].stats[j].name) return Fail(msg, BANGER_INVALID, "a stat has no name");
        Of(h).figures_[batch[i].vm_id][batch[i].stats[j].name] =
            FakeFigure{batch[i].stats[j].value, false, "", ""};
      }
    }
    return BANGER_OK;
  }
  static int FiguresPublish(const banger_host* h, const banger_vm_figures* batch, size_t count,
                            banger_message* msg) noexcept {
    for (size_t i = 0; i < count; ++i) {
      if (batch[i].struct_size != sizeof(banger_vm_figures) || !batch[i].vm_id) {
        return Fail(msg, BANGER_INVALID, "a banger_vm_figures of another layout, or no vm_id");
      }
      for (size_t j = 0; j < batch[i].count; ++j) {
        const banger_figure& f = batch[i].figures[j];
        if (f.struct_size != sizeof(banger_figure) || !f.name) {
          return Fail(msg, BANGER_INVALID, "a banger_figure of another layout, or no name");
        }
        std::string name = f.name;
        bool counter = f.kind == BANGER_FIGURE_COUNTER;
        bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
        if (counter != total) {
          return Fail(msg, BANGER_INVALID,
                      "figure '" + name +
                          (counter ? "' is a counter: its name ends with _total"
                                   : "' is a gauge: _total is for counters"));
        }
        Of(h).figures_[batch[i].vm_id][name] =
            FakeFigure{f.value, counter, f.unit ? f.unit : "", f.help ? f.help : ""};
      }
    }
    return BANGER_OK;
  }
  static int VerbRegister(const banger_host* h, const char* verb, const char*,
                          banger_message* msg) noexcept {
    FakeHost& host = Of(h);
    if (!host.in_init_) return Fail(msg, BANGER_INVALID, "verb_register: only during init");
    host.verbs_.emplace_back(verb ? verb : "");
    return BANGER_OK;
  }
  static int CommandRegister(const banger_host* h, const char* verb, const char*,
                             banger_message* msg) noexcept {
    FakeHost& host = Of(h);
    if (!host.in_init_) return Fail(msg, BANGER_INVALID, "command_register: only during init");
    host.commands_.emplace_back(verb ? verb : "");
    return BANGER_OK;
  }
  static int OptionGet(const banger_host* h, const char* vm_id, const char* key, char* out,
                       size_t size, banger_message* msg) noexcept {
    FakeVm* vm = vm_id ? Of(h).FindVm(vm_id) : nullptr;
    if (vm == nullptr || key == nullptr) return Fail(msg, BANGER_NOT_FOUND, "no such VM");
    auto it = vm->options.find(key);
    if (it == vm->options.end()) return Fail(msg, BANGER_NOT_FOUND, "option not set");
    return Copy(msg, it->second, out, size);
  }

  std::string name_;
  std::vector<std::pair<std::string, std::string>> config_;
  std::string state_dir_;
  banger_host t_{};
  std::map<std::string, FakeVm> vms_;
  std::map<std::pair<std::string, std::string>, std::string> record_, cache_, foreign_;
  std::function<std::optional<std::string>(const FakeVm&, const std::string&)> rediscover_;
  ExecHandler exec_;
  std::vector<std::vector<std::string>> exec_calls_;
  std::map<std::string, std::map<std::string, FakeFigure>> figures_;
  std::vector<std::string> logs_, verbs_, commands_, rediscovered_;
  std::map<std::string, std::vector<std::string>> ifaces_;
  std::map<std::string, std::string> boot_args_;
  std::vector<std::pair<std::string, std::string>> stops_;
  bool in_init_ = false;
  std::string preparing_;  // the VM whose prepare runs
  // The VM whose reserve runs: its handle writes are held (cache only) until
  // the start records them (EndHold), as the agent does.
  std::string holding_;
  std::vector<std::pair<std::string, std::optional<std::string>>> held_;  // key ("": all), value
  void EndHold(bool record) {
    for (const auto& [key, value] : held_) {
      if (!record) break;
      if (value) {
        record_[{holding_, key}] = *value;
        continue;
      }
      for (auto it = record_.begin(); it != record_.end();) {
        bool match = it->first.first == holding_ && (key.empty() || it->first.second == key);
        it = match ? record_.erase(it) : std::next(it);
      }
    }
    if (!record) {
      // Never recorded: the cache forgets the VM, as the agent's does.
      for (auto it = cache_.begin(); it != cache_.end();) {
        it = it->first.first == holding_ ? cache_.erase(it) : std::next(it);
      }
    }
    holding_.clear();
    held_.clear();
  }
};

// Runs a capability's hooks (its descriptor: banger_capability_entry(), or
// the C struct) against a FakeHost, as the agent would: init with the host's
// table, verbs only there, contributions only in prepare.
class Harness {
 public:
  Harness(const banger_capability* d, FakeHost& host) : d_(d), host_(host) {
    host_.rediscover_ = [this](const FakeVm& vm,
                               const std::string& key) -> std::optional<std::string> {
      if (!BANGER_HAS_FIELD(d_, banger_capability, rediscover) || !d_->rediscover) return {};
      std::vector<char> out(BANGER_HANDLE_VALUE_MAX + 1);
      banger_vm view = vm.View();
      Msg m;
      if (d_->rediscover(self_, &view, key.c_str(), out.data(), out.size(), m.get()) != BANGER_OK)
        return {};
      return std::string(out.data());
    };
  }
  ~Harness() { Shutdown(); }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  Status Init() {
    Msg m;
    host_.in_init_ = true;
    int rc = d_->init(host_.table(), &self_, m.get());
    host_.in_init_ = false;
    inited_ = rc == BANGER_OK;
    return Status::FromCode(rc, m.str());
  }
  // reserve (ABI 1.3) as the agent runs it before a start is recorded: the
  // handles it sets are held (handle_get sees them) and recorded only once
  // it succeeds; when it fails, cleanup runs and they are dropped. OK when
  // the capability has no reserve hook.
  Status Reserve(const std::string& vm_ref) {
    if (!BANGER_HAS_FIELD(d_, banger_capability, reserve) || !d_->reserve) return Status::Ok();
    host_.holding_ = Vm(vm_ref)->id;
    Status s = StartHook(d_->reserve, vm_ref);
    bool ok = s.ok() || s.code() == BANGER_SKIP;
    if (!ok && d_->cleanup) {
      banger_vm view = Vm(vm_ref)->View();
      Msg ignored;
      d_->cleanup(self_, &view, ignored.get());
    }
    host_.EndHold(/*record=*/ok);
    return s;
  }
  // A start as the agent runs one: Reserve, then Prepare; a prepare that
  // fails is cleaned up (Cleanup, which clears the handles as the agent does).
  Status Start(const std::string& vm_ref) {
    if (Status s = Reserve(vm_ref); !s.ok()) return s;
    Status s = Prepare(vm_ref);
    if (!s.ok()) Cleanup(vm_ref);
    return s;
  }
  // prepare alone (after Reserve, or to see what a capability does on a host
  // without reserve).
  Status Prepare(const std::string& vm_ref) {
    if (!d_->prepare) return Status::Ok();
    host_.preparing_ = Vm(vm_ref)->id;
    Status s = StartHook(d_->prepare, vm_ref);
    host_.preparing_.clear();
    return s;
  }
  Status Cleanup(const std::string& vm_ref) {
    if (!d_->cleanup) return Status::Ok();
    FakeVm* vm = Vm(vm_ref);
    banger_vm view = vm->View();
    Msg m;
    int rc = d_->cleanup(self_, &view, m.get());
    // As the agent does: a cleanup that succeeded has its handles cleared.
    if (rc == BANGER_OK) FakeHost::HandleClear(host_.table(), vm->id.c_str(), nullptr, m.get());
    return Status::FromCode(rc, m.str());
  }
  Status Tick(int64_t now_unix_ms) {
    if (!d_->tick) return Status::Ok();
    Msg m;
    // The hook first, then its message: arguments have no order of evaluation.
    int rc = d_->tick(self_, now_unix_ms, m.get());
    return Status::FromCode(rc, m.str());
  }
  Result<std::string> Query(const std::string& verb, const std::string& vm_ref,
                            const std::string& args_json = "{}") {
    if (!d_->query) return {Status::Error("no query hook"), {}};
    banger_vm view = Vm(vm_ref)->View();
    return Reply([&](const banger_writer* w, banger_message* m) {
      return d_->query(self_, verb.c_str(), &view, args_json.c_str(), w, m);
    });
  }
  Result<std::string> Command(const std::string& verb, const std::string& args_json = "{}") {
    if (!BANGER_HAS_FIELD(d_, banger_capability, command) || !d_->command) {
      return {Status::Error("no command hook"), {}};
    }
    return Reply([&](const banger_writer* w, banger_message* m) {
      return d_->command(self_, verb.c_str(), args_json.c_str(), w, m);
    });
  }
  Status ValidateOptions(const std::vector<std::pair<std::string, std::string>>& options) {
    if (!BANGER_HAS_FIELD(d_, banger_capability, validate_options) || !d_->validate_options) {
      return Status::FromCode(BANGER_INVALID, host_.name() + " takes no per-VM options");
    }
    std::vector<const char*> keys, values;
    for (const auto& [k, v] : options) {
      keys.push_back(k.c_str());
      values.push_back(v.c_str());
    }
    Msg m;
    int rc = d_->validate_options(self_, keys.data(), values.data(), options.size(), m.get());
    return Status::FromCode(rc, m.str());
  }
  void Shutdown() {
    if (inited_ && d_->shutdown) d_->shutdown(self_);
    inited_ = false;
  }

 private:
  struct Msg {
    char text[1024] = {0};
    banger_message msg{text, sizeof text};
    banger_message* get() { return &msg; }
    std::string str() const { return text; }
  };
  // reserve or prepare, for a VM that is starting.
  Status StartHook(int (*hook)(void*, const banger_vm*, banger_message*), const std::string& ref) {
    FakeVm* vm = Vm(ref);
    vm->state = "starting";
    banger_vm view = vm->View();
    Msg m;
    int rc = hook(self_, &view, m.get());
    return Status::FromCode(rc, m.str());
  }
  FakeVm* Vm(const std::string& ref) {
    FakeVm* vm = host_.FindVm(ref);
    if (vm == nullptr) throw std::invalid_argument("FakeHost has no VM '" + ref + "'");
    return vm;
  }
  template <typename F>
  Result<std::string> Reply(F&& call) {
    std::string text;
    banger_writer w{&text, [](void* ctx, const char* d, size_t n) noexcept {
                      try {
                        static_cast<std::string*>(ctx)->append(d, n);
                      } catch (...) {
                      }
                    }};
    Msg m;
    int rc = call(&w, m.get());
    if (rc != BANGER_OK) return {Status::FromCode(rc, m.str()), {}};
    return {Status::Ok(), std::move(text)};
  }

  const banger_capability* d_;
  FakeHost& host_;
  void* self_ = nullptr;
  bool inited_ = false;
};

}  // namespace banger::testing

#endif  // BANGER_TESTING_HPP_
