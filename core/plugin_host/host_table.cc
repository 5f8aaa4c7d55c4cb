#include "core/plugin_host/host_table.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <vector>

#include "core/base/process_runner.h"

namespace banger::core {
namespace {

using Context = HostTable::Context;

Context& Ctx(const banger_host* host) {
  return *static_cast<Context*>(host->ctx);
}

int Fail(banger_message* msg, int code, const std::string& text) {
  banger_message_set(msg, "%s", text.c_str());
  return code;
}

int Report(banger_message* msg, const ServiceStatus& s) {
  if (s.code != BANGER_OK) banger_message_set(msg, "%s", s.message.c_str());
  return s.code;
}

// Every entry from a capability is noexcept and guarded: nothing may throw
// back into C. (Callbacks the host hands out, like the query writer, are
// noexcept too: hook_dispatcher.cc.)
template <typename F>
int CatchAtBoundary(banger_message* msg, F&& f) noexcept {
  try {
    return f();
  } catch (const std::exception& e) {
    return Fail(msg, BANGER_ERROR, std::string("host error: ") + e.what());
  } catch (...) {
    return Fail(msg, BANGER_ERROR, "host error");
  }
}

std::string Str(const char* s) {
  return s ? s : "";
}

// The VM side, or a clear "not available" for the named service.
VmBackend* VmOr(const banger_host* host, banger_message* msg, const char* service) {
  VmBackend* vm = Ctx(host).table_owner->vm();
  if (vm == nullptr) {
    Fail(msg, BANGER_UNAVAILABLE,
         std::string(service) + " is not available: this agent has no VM backend attached");
  }
  return vm;
}

void Log(const banger_host* host, int level, const char* text) noexcept {
  try {
    LogLevel l = level <= BANGER_LOG_DEBUG  ? LogLevel::kDebug
                 : level == BANGER_LOG_INFO ? LogLevel::kInfo
                 : level == BANGER_LOG_WARN ? LogLevel::kWarn
                                            : LogLevel::kError;
    Ctx(host).table_owner->logger().Log(l, Ctx(host).plugin->name, Str(text));
  } catch (...) {
    // Logging never fails from the capability's point of view.
  }
}

int ConfigGet(const banger_host* host, const char* key, const char** value) noexcept {
  if (key == nullptr || value == nullptr) return BANGER_INVALID;
  for (const auto& e : Ctx(host).plugin->config) {
    if (e.key == key) {
      *value = e.value.c_str();
      return BANGER_OK;
    }
  }
  return BANGER_NOT_FOUND;
}

int ConfigEach(const banger_host* host, banger_config_visitor visit, void* user) noexcept {
  if (visit == nullptr) return BANGER_INVALID;
  try {  // a visitor must not throw (the SDK's do not); if one does, it stops here
    for (const auto& e : Ctx(host).plugin->config) visit(user, e.key.c_str(), e.value.c_str());
  } catch (...) {
    return BANGER_ERROR;
  }
  return BANGER_OK;
}

// handle_get, handle_find and vm_option_get: a value into the caller's buffer.
int CopyOut(banger_message* msg, const std::string& value, char* out, size_t out_size) {
  std::strncpy(out, value.c_str(), out_size - 1);
  out[out_size - 1] = '\0';
  if (value.size() >= out_size) {
    return Fail(msg, BANGER_TRUNCATED,
                "needs " + std::to_string(value.size() + 1) + " bytes (" +
                    std::to_string(value.size()) + " and the NUL); was given " +
                    std::to_string(out_size));
  }
  return BANGER_OK;
}

// The limits capability.h states (BANGER_HANDLE_KEY_MAX, _VALUE_MAX).
int CheckHandle(banger_message* msg, const char* service, const char* key, const char* value) {
  size_t k = std::strlen(key), v = std::strlen(value);
  if (k == 0 || k > BANGER_HANDLE_KEY_MAX) {
    return Fail(msg, BANGER_INVALID,
                std::string(service) + ": key '" + std::string(key, std::min<size_t>(k, 80)) +
                    "' is " + std::to_string(k) + " bytes; keys are 1 to " +
                    std::to_string(BANGER_HANDLE_KEY_MAX));
  }
  if (v > BANGER_HANDLE_VALUE_MAX) {
    return Fail(msg, BANGER_INVALID,
                std::string(service) + ": the value of '" + key + "' is " + std::to_string(v) +
                    " bytes; values are at most " + std::to_string(BANGER_HANDLE_VALUE_MAX));
  }
  return BANGER_OK;
}

int HandleGet(const banger_host* host, const char* vm_id, const char* capability, const char* key,
              char* out, size_t out_size, banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    if (vm_id == nullptr || key == nullptr || out == nullptr || out_size == 0) {
      return Fail(msg, BANGER_INVALID, "handle_get: vm_id, key and an output buffer are required");
    }
    VmBackend* vm = VmOr(host, msg, "handle_get");
    if (vm == nullptr) return BANGER_UNAVAILABLE;
    std::string value;
    auto cap = capability ? std::string(capability) : Ctx(host).plugin->name;
    ServiceStatus s = vm->HandleGet(vm_id, cap, key, &value);
    if (s.code != BANGER_OK) return Report(msg, s);
    // TRUNCATED says how large a buffer it needs, so the caller can try once more.
    return CopyOut(msg, value, out, out_size);
  });
}

int HandleFind(const banger_host* host, const char* vm_id, const char* capability, const char* key,
               char* out, size_t out_size, banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    if (vm_id == nullptr || key == nullptr || out == nullptr || out_size == 0) {
      return Fail(msg, BANGER_INVALID, "handle_find: vm_id, key and an output buffer are required");
    }
    VmBackend* vm = VmOr(host, msg, "handle_find");
    if (vm == nullptr) return BANGER_UNAVAILABLE;
    std::string value;
    auto cap = capability ? std::string(capability) : Ctx(host).plugin->name;
    ServiceStatus s = vm->HandleFind(vm_id, cap, key, &value);
    if (s.code != BANGER_OK) return Report(msg, s);
    return CopyOut(msg, value, out, out_size);
  });
}

int VmOptionGet(const banger_host* host, const char* vm_id, const char* key, char* out,
                size_t out_size, banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    if (vm_id == nullptr || key == nullptr || out == nullptr || out_size == 0) {
      return Fail(msg, BANGER_INVALID,
                  "vm_option_get: vm_id, key and an output buffer are required");
    }
    VmBackend* vm = VmOr(host, msg, "vm_option_get");
    if (vm == nullptr) return BANGER_UNAVAILABLE;
    std::string value;
    ServiceStatus s = vm->OptionGet(vm_id, Ctx(host).plugin->name, key, &value);
    if (s.code != BANGER_OK) return Report(msg, s);
    return CopyOut(msg, value, out, out_size);
  });
}

int HandleSet(const banger_host* host, const char* vm_id, const char* key, const char* value,
              banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    if (vm_id == nullptr || key == nullptr || value == nullptr) {
      return Fail(msg, BANGER_INVALID, "handle_set: vm_id, key and value are required");
    }
    if (int bad = CheckHandle(msg, "handle_set", key, value); bad != BANGER_OK) return bad;
    VmBackend* vm = VmOr(host, msg, "handle_set");
    if (vm == nullptr) return BANGER_UNAVAILABLE;
    return Report(msg, vm->HandleSet(vm_id, Ctx(host).plugin->name, key, value));
  });
}

int HandleSetMany(const banger_host* host, const char* vm_id, const char* const* keys,
                  const char* const* values, size_t count, banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    if (vm_id == nullptr || (count > 0 && (keys == nullptr || values == nullptr))) {
      return Fail(msg, BANGER_INVALID, "handle_set_many: vm_id, keys and values are required");
    }
    std::vector<std::pair<std::string, std::string>> kv;
    for (size_t i = 0; i < count; ++i) {
      if (keys[i] == nullptr || values[i] == nullptr) {
        return Fail(msg, BANGER_INVALID, "handle_set_many: a key or value is NULL");
      }
      if (int bad = CheckHandle(msg, "handle_set_many", keys[i], values[i]); bad != BANGER_OK) {
        return bad;
      }
      kv.emplace_back(keys[i], values[i]);
    }
    VmBackend* vm = VmOr(host, msg, "handle_set_many");
    if (vm == nullptr) return BANGER_UNAVAILABLE;
    return Report(msg, vm->HandleSetMany(vm_id, Ctx(host).plugin->name, kv));
  });
}

int HandleClear(const banger_host* host, const char* vm_id, const char* key,
                banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    if (vm_id == nullptr) return Fail(msg, BANGER_INVALID, "handle_clear: vm_id is required");
    VmBackend* vm = VmOr(host, msg, "handle_clear");
    if (vm == nullptr) return BANGER_UNAVAILABLE;
    return Report(msg, vm->HandleClear(vm_id, Ctx(host).plugin->name, Str(key)));
  });
}

int Exec(const banger_host* host, const char* const* argv, uint32_t timeout_ms,
         const banger_writer* output, banger_exec_result* result, banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    if (argv == nullptr || argv[0] == nullptr) {
      return Fail(msg, BANGER_INVALID, "exec: argv must hold at least the program");
    }
    std::vector<std::string> args;
    for (auto p = argv; *p != nullptr; ++p) args.emplace_back(*p);
    Ctx(host).table_owner->logger().Debug(Ctx(host).plugin->name, "exec " + args[0]);
    auto outcome =
        RunProcess(args, std::chrono::milliseconds(timeout_ms), [&](std::string_view chunk) {
          if (output && output->write) {
            output->write(output->ctx, chunk.data(), chunk.size());
          }
        });
    if (!outcome) return Fail(msg, BANGER_ERROR, outcome.status().message());
    if (result != nullptr && BANGER_HAS_FIELD(result, banger_exec_result, timed_out)) {
      result->exit_code = outcome->exit_code;
      result->term_signal = outcome->term_signal;
      result->timed_out = outcome->timed_out ? 1 : 0;
    }
    if (outcome->timed_out) {
      return Fail(msg, BANGER_TIMEOUT,
                  args[0] + " was killed after " + std::to_string(timeout_ms) + " ms");
    }
    return BANGER_OK;
  });
}

int VmGet(const banger_host* host, const char* ref, banger_vm_visitor visit, void* user,
          banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    if (ref == nullptr || visit == nullptr) {
      return Fail(msg, BANGER_INVALID, "vm_get: ref and visitor are required");
    }
    VmBackend* vm = VmOr(host, msg, "vm_get");
    if (vm == nullptr) return BANGER_UNAVAILABLE;
    return Report(msg, vm->GetVm(ref, [&](const banger_vm& v) { visit(user, &v); }));
  });
}

int VmList(const banger_host* host, banger_vm_visitor visit, void* user,
           banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    if (visit == nullptr) return Fail(msg, BANGER_INVALID, "vm_list: visitor is required");
    VmBackend* vm = VmOr(host, msg, "vm_list");
    if (vm == nullptr) return BANGER_UNAVAILABLE;
    return Report(msg, vm->ListVms([&](const banger_vm& v) { visit(user, &v); }));
  });
}

int AddNetworkInterface(const banger_host* host, const char* vm_id, const banger_net_iface* iface,
                        banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    if (vm_id == nullptr || iface == nullptr) {
      return Fail(msg, BANGER_INVALID, "vmm_add_network_interface: vm_id and iface are required");
    }
    VmBackend* vm = VmOr(host, msg, "vmm_add_network_interface");
    if (vm == nullptr) return BANGER_UNAVAILABLE;
    return Report(msg, vm->AddNetworkInterface(Ctx(host).plugin->name, vm_id, *iface));
  });
}

int AppendBootArgs(const banger_host* host, const char* vm_id, const char* args,
                   banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    if (vm_id == nullptr || args == nullptr) {
      return Fail(msg, BANGER_INVALID, "vmm_append_boot_args: vm_id and args are required");
    }
    VmBackend* vm = VmOr(host, msg, "vmm_append_boot_args");
    if (vm == nullptr) return BANGER_UNAVAILABLE;
    return Report(msg, vm->AppendBootArgs(Ctx(host).plugin->name, vm_id, args));
  });
}

int RequestStop(const banger_host* host, const char* vm_id, const char* reason,
                banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    if (vm_id == nullptr) return Fail(msg, BANGER_INVALID, "vm_request_stop: vm_id is required");
    VmBackend* vm = VmOr(host, msg, "vm_request_stop");
    if (vm == nullptr) return BANGER_UNAVAILABLE;
    return Report(msg, vm->RequestStop(Ctx(host).plugin->name, vm_id, Str(reason)));
  });
}

int PublishStats(const banger_host* host, const banger_vm_stats* batch, size_t count,
                 banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    if (batch == nullptr && count > 0) {
      return Fail(msg, BANGER_INVALID, "stats_publish: batch is NULL");
    }
    VmBackend* vm = VmOr(host, msg, "stats_publish");
    if (vm == nullptr) return BANGER_UNAVAILABLE;
    std::vector<VmBackend::VmSample> samples;
    samples.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      const banger_vm_stats& vm_stats = batch[i];
      if (vm_stats.vm_id == nullptr || (vm_stats.stats == nullptr && vm_stats.count > 0)) {
        return Fail(msg, BANGER_INVALID,
                    "stats_publish: entry " + std::to_string(i) + " has no vm_id or no stats");
      }
      for (size_t j = 0; j < vm_stats.count; ++j) {
        if (vm_stats.stats[j].name == nullptr) {
          return Fail(msg, BANGER_INVALID,
                      "stats_publish: stat " + std::to_string(j) + " of vm " + vm_stats.vm_id +
                          " has no name");
        }
      }
      samples.push_back({vm_stats.vm_id, {vm_stats.stats, vm_stats.count}});
    }
    return Report(msg, vm->PublishStats(Ctx(host).plugin->name, samples));
  });
}

int PublishFigures(const banger_host* host, const banger_vm_figures* batch, size_t count,
                   banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    if (batch == nullptr && count > 0) {
      return Fail(msg, BANGER_INVALID, "figures_publish: batch is NULL");
    }
    VmBackend* vm = VmOr(host, msg, "figures_publish");
    if (vm == nullptr) return BANGER_UNAVAILABLE;
    HostTable::Context& ctx = Ctx(host);
    // Names and kinds first, all of them: a bad one writes nothing. The
    // values go to buffers this thread reuses: a tick allocates nothing once
    // they have grown to its size.
    thread_local std::vector<banger_stat> values;
    thread_local std::vector<size_t> starts;
    thread_local std::vector<VmBackend::VmSample> samples;
    values.clear();
    starts.clear();
    samples.clear();
    for (size_t i = 0; i < count; ++i) {
      const banger_vm_figures& f = batch[i];
      // Arrays are walked with this host's strides: another layout is refused.
      if (f.struct_size != sizeof(banger_vm_figures)) {
        return Fail(msg, BANGER_INVALID,
                    "figures_publish: entry " + std::to_string(i) + " declares " +
                        std::to_string(f.struct_size) + " bytes, not " +
                        std::to_string(sizeof(banger_vm_figures)) + " (another layout)");
      }
      if (f.vm_id == nullptr || (f.figures == nullptr && f.count > 0)) {
        return Fail(msg, BANGER_INVALID,
                    "figures_publish: entry " + std::to_string(i) + " has no vm_id or no figures");
      }
      starts.push_back(values.size());
      for (size_t j = 0; j < f.count; ++j) {
        const banger_figure& fig = f.figures[j];
        if (fig.struct_size != sizeof(banger_figure)) {
          return Fail(msg, BANGER_INVALID,
                      "figures_publish: figure " + std::to_string(j) + " of vm " + f.vm_id +
                          " declares " + std::to_string(fig.struct_size) + " bytes, not " +
                          std::to_string(sizeof(banger_figure)) + " (another layout)");
        }
        if (fig.name == nullptr) {
          return Fail(msg, BANGER_INVALID,
                      "figures_publish: figure " + std::to_string(j) + " of vm " + f.vm_id +
                          " has no name");
        }
        // The previous VM's figure at this place, of the very same strings
        // (a capability publishes every VM's under the same static names):
        // declared already, in this call.
        const banger_figure* before =
            i > 0 && j < batch[i - 1].count ? &batch[i - 1].figures[j] : nullptr;
        bool declared = before != nullptr && before->name == fig.name && before->kind == fig.kind &&
                        before->unit == fig.unit && before->help == fig.help;
        if (!declared) {
          if (Status s = ctx.table_owner->figures().Declare(
                  fig.name, fig.kind == BANGER_FIGURE_COUNTER, fig.unit ? fig.unit : "",
                  fig.help ? fig.help : "", ctx.plugin->name);
              !s) {
            return Fail(msg, BANGER_INVALID, "figures_publish: " + s.message());
          }
        }
        values.push_back({fig.name, fig.value});
      }
    }
    for (size_t i = 0; i < count; ++i) {  // views once `values` is whole (no more moves)
      samples.push_back({batch[i].vm_id, {values.data() + starts[i], batch[i].count}});
    }
    return Report(msg, vm->PublishStats(ctx.plugin->name, samples));
  });
}

int CommandRegister(const banger_host* host, const char* verb, const char* summary,
                    banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    auto& ctx = Ctx(host);
    if (!ctx.in_init.load()) {
      return Fail(msg, BANGER_INVALID, "command_register: allowed only during init");
    }
    Status s = ctx.table_owner->verbs().RegisterCommand(Str(verb), ctx.plugin->name, Str(summary));
    return s ? BANGER_OK : Fail(msg, BANGER_INVALID, s.message());
  });
}

int VerbRegister(const banger_host* host, const char* verb, const char* summary,
                 banger_message* msg) noexcept {
  return CatchAtBoundary(msg, [&]() -> int {
    Context& ctx = Ctx(host);
    if (!ctx.in_init.load()) {
      return Fail(msg, BANGER_INVALID, "verb_register is allowed only during init");
    }
    if (ctx.plugin->library && ctx.plugin->library->hooks.query == nullptr) {
      return Fail(msg, BANGER_INVALID,
                  "verb_register: this capability has no query hook to answer the verb");
    }
    Status s = ctx.table_owner->verbs().Register(Str(verb), ctx.plugin->name, Str(summary));
    return s ? BANGER_OK : Fail(msg, BANGER_INVALID, s.message());
  });
}

}  // namespace

const banger_host* HostTable::TableFor(Plugin& plugin) {
  std::lock_guard lock(mu_);
  auto& slot = contexts_[&plugin];
  if (!slot) {
    slot = std::make_unique<Context>();
    slot->table_owner = this;
    slot->plugin = &plugin;
    banger_host& t = slot->table;
    t.struct_size = sizeof(banger_host);
    t.abi_major = BANGER_ABI_MAJOR;
    t.abi_minor = BANGER_ABI_MINOR;
    t.ctx = slot.get();
    t.log = &Log;
    t.config_get = &ConfigGet;
    t.config_each = &ConfigEach;
    t.handle_get = &HandleGet;
    t.handle_set = &HandleSet;
    t.handle_clear = &HandleClear;
    t.exec = &Exec;
    t.vm_get = &VmGet;
    t.vm_list = &VmList;
    t.vmm_add_network_interface = &AddNetworkInterface;
    t.vmm_append_boot_args = &AppendBootArgs;
    t.vm_request_stop = &RequestStop;
    t.stats_publish = &PublishStats;
    t.verb_register = &VerbRegister;
    t.handle_set_many = &HandleSetMany;
    if (!state_root_.empty()) {
      std::string dir = state_root_ + "/" + plugin.name;
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (!ec && ::chmod(state_root_.c_str(), 0700) == 0 && ::chmod(dir.c_str(), 0700) == 0) {
        slot->state_dir = dir;
      } else {
        logger_.Warn(plugin.name, "cannot make its state directory " + dir + ": " +
                                      (ec ? ec.message() : std::string(std::strerror(errno))));
      }
    }
    t.state_dir = slot->state_dir.c_str();
    t.vm_option_get = &VmOptionGet;
    t.handle_find = &HandleFind;
    t.figures_publish = &PublishFigures;
    t.command_register = &CommandRegister;
  }
  return &slot->table;
}

void HostTable::SetInInit(Plugin& plugin, bool in_init) {
  TableFor(plugin);
  std::lock_guard lock(mu_);
  contexts_.at(&plugin)->in_init.store(in_init);
}

}  // namespace banger::core
