#include "core/plugin_host/hook_dispatcher.h"

#include <algorithm>
#include <chrono>
#include <exception>

#include "core/base/fault_point.h"

namespace banger::core {
namespace {

// The largest verb reply kept (a reply is one JSON value sent to a client).
constexpr size_t kMaxReplyBytes = size_t{16} << 20;

// Why init failed, as the operator needs it: a capability that says
// "config key K: why" (the SDK's banger::ConfigError) has it pointed at the
// file, line and section of that key.
std::string InitFailure(const Plugin& p, const std::string& message) {
  const std::string prefix = "config key ";
  auto colon = message.find(':', prefix.size());
  if (message.rfind(prefix, 0) != 0 || colon == std::string::npos) {
    return "init failed: " + message;
  }
  std::string why = message.substr(colon + 1);
  if (!why.empty() && why[0] == ' ') why.erase(0, 1);
  return ConfigErrorAt(p, message.substr(prefix.size(), colon - prefix.size()), why);
}

struct HookOutcome {
  int code = BANGER_OK;
  std::string message;
};

// Calls one hook: times it, catches whatever escapes the plugin, records the
// call in the plugin's stats. `call` receives the message buffer.
template <typename F>
// `also_an_answer`: a status that, for this hook, is an answer rather than a
// failure (rediscover's NOT_FOUND: nothing of that name on the host).
HookOutcome Call(Plugin& plugin, const char* hook, F&& call, int also_an_answer = BANGER_OK) {
  char text[1024] = {0};
  banger_message msg{text, sizeof text};
  HookOutcome out;
  auto start = std::chrono::steady_clock::now();
  try {
    out.code = call(&msg);
    out.message = text;
  } catch (const std::exception& e) {
    out.code = BANGER_ERROR;
    out.message = std::string("threw an exception: ") + e.what();
  } catch (...) {
    out.code = BANGER_ERROR;
    out.message = "threw an exception of unknown type";
  }
  auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count();
  bool failed = out.code != BANGER_OK && out.code != BANGER_SKIP && out.code != also_an_answer;
  if (failed && out.message.empty()) {
    out.message = "failed with status " + std::to_string(out.code) + " and no message";
  }
  plugin.stats.Record(hook, static_cast<uint64_t>(ns), failed,
                      failed ? std::string(hook) + ": " + out.message : "");
  return out;
}

}  // namespace

Status HookDispatcher::InitAll() {
  for (Plugin* p : registry_.ordered()) {
    if (p->state != PluginState::kLoaded) continue;
    std::string blocked;
    for (const auto& dep : p->library->dependencies) {
      Plugin* d = registry_.Find(dep);
      if (d == nullptr || d->state != PluginState::kOk) {
        blocked = "requires '" + dep + "', which is " + (d ? d->StatusText() : "missing");
        break;
      }
    }
    if (!blocked.empty()) {
      p->state = PluginState::kError;
      p->reason = blocked;
      continue;
    }
    const banger_host* table = host_table_.TableFor(*p);
    host_table_.SetInInit(*p, true);
    auto init = p->library->hooks.init;
    HookOutcome r = Call(*p, "init", [&](banger_message* m) { return init(table, &p->self, m); });
    host_table_.SetInInit(*p, false);
    if (r.code == BANGER_OK) {
      p->state = PluginState::kOk;
      logger_.Info("core", "capability " + p->name + " " + p->library->version + " ready");
    } else if (r.code == BANGER_SKIP) {
      p->state = PluginState::kSkip;
      p->reason = r.message.empty() ? "init skipped without a reason" : r.message;
    } else {
      p->state = PluginState::kError;
      p->reason = InitFailure(*p, r.message);
    }
  }

  // One line per enabled capability that is not running, whatever stopped it
  // (load, order or init).
  std::string failures;
  for (const auto& p : registry_.all()) {
    if (p->enabled && p->state != PluginState::kOk) {
      auto level = p->state == PluginState::kSkip ? LogLevel::kWarn : LogLevel::kError;
      logger_.Log(level, "core", "capability " + p->name + " is not running: " + p->StatusText());
    }
    if (p->required && p->state != PluginState::kOk) {
      failures += (failures.empty() ? "" : "; ") + p->name + ": " + p->StatusText();
    }
  }
  if (!failures.empty()) return Status::Error("required capability not running: " + failures);
  return Status::Ok();
}

void HookDispatcher::ShutdownAll() {
  auto running = Running();
  for (auto it = running.rbegin(); it != running.rend(); ++it) {
    Plugin* p = *it;
    auto shutdown = p->library->hooks.shutdown;
    if (shutdown != nullptr) {
      Call(*p, "shutdown", [&](banger_message*) {
        shutdown(p->self);
        return BANGER_OK;
      });
    }
    p->self = nullptr;
    p->state = PluginState::kLoaded;
    logger_.Debug("core", "capability " + p->name + " shut down");
  }
}

std::vector<Plugin*> HookDispatcher::Running() const {
  std::vector<Plugin*> out;
  for (Plugin* p : registry_.ordered()) {
    if (p->state == PluginState::kOk) out.push_back(p);
  }
  return out;
}

Status HookDispatcher::Reserve(const banger_vm& vm, std::vector<std::string>* rollback_failed,
                               std::vector<std::string>* rolled_back) {
  return RunStartHook(
      "reserve", [](const CapabilityHooks& h) { return h.reserve; }, vm, {}, rollback_failed,
      /*reserved=*/false, rolled_back);
}

Status HookDispatcher::CleanupReserved(const banger_vm& vm, std::vector<std::string>* failed) {
  std::vector<Plugin*> reserved;
  for (Plugin* p : Running()) {
    if (p->library->hooks.reserve != nullptr) reserved.push_back(p);
  }
  return CleanupThrough(vm, reserved, failed);
}

Status HookDispatcher::Prepare(const banger_vm& vm,
                               const std::function<void(const std::string&)>& around,
                               std::vector<std::string>* rollback_failed, bool reserved) {
  return RunStartHook(
      "prepare", [](const CapabilityHooks& h) { return h.prepare; }, vm, around, rollback_failed,
      reserved);
}

Status HookDispatcher::RunStartHook(const char* hook, StartHookOf hook_of, const banger_vm& vm,
                                    const std::function<void(const std::string&)>& around,
                                    std::vector<std::string>* rollback_failed, bool reserved,
                                    std::vector<std::string>* rolled_back) {
  const std::string name = hook;
  std::vector<Plugin*> running = Running();
  std::vector<Plugin*> touched;
  for (Plugin* p : running) {
    auto call = hook_of(p->library->hooks);
    if (call == nullptr) continue;
    touched.push_back(p);
    if (around) around(p->name);
    BANGER_FAULT_POINT_NAMED("capability." + p->name + "." + name);
    HookOutcome r = Call(*p, hook, [&](banger_message* m) { return call(p->self, &vm, m); });
    if (around) around("");
    if (r.code == BANGER_OK || r.code == BANGER_SKIP) {
      BANGER_FAULT_POINT_NAMED("capability." + p->name + "." + name + "d");
      continue;
    }
    Status failure =
        Status::Error(p->name + ": " + name + " vm \"" + std::string(vm.name) + "\": " + r.message);
    if (reserved) {
      // Those whose reserve ran hold what they reserved, prepared or not:
      // in dependency order, with the ones that ran this hook so far.
      std::vector<Plugin*> undo_set;
      for (Plugin* q : running) {
        bool ran = std::find(touched.begin(), touched.end(), q) != touched.end();
        if (ran || q->library->hooks.reserve != nullptr) undo_set.push_back(q);
      }
      touched = std::move(undo_set);
    }
    if (rolled_back) {
      for (Plugin* q : touched) rolled_back->push_back(q->name);
    }
    Status undo = CleanupThrough(vm, touched, rollback_failed);
    if (!undo) return Status::Error(failure.message() + " (rollback: " + undo.message() + ")");
    return failure;
  }
  return Status::Ok();
}

Status HookDispatcher::Cleanup(const banger_vm& vm, std::vector<std::string>* failed) {
  return CleanupThrough(vm, Running(), failed);
}

Status HookDispatcher::CleanupThrough(const banger_vm& vm, const std::vector<Plugin*>& plugins,
                                      std::vector<std::string>* failed) {
  std::string failures;
  for (auto it = plugins.rbegin(); it != plugins.rend(); ++it) {
    Plugin* p = *it;
    auto cleanup = p->library->hooks.cleanup;
    if (cleanup == nullptr) continue;
    BANGER_FAULT_POINT_NAMED("capability." + p->name + ".cleanup");
    HookOutcome r =
        Call(*p, "cleanup", [&](banger_message* m) { return cleanup(p->self, &vm, m); });
    if (r.code == BANGER_OK || r.code == BANGER_SKIP) {
      BANGER_FAULT_POINT_NAMED("capability." + p->name + ".cleaned");
      continue;
    }
    if (failed) failed->push_back(p->name);
    failures += (failures.empty() ? "" : "; ") + p->name + ": cleanup vm \"" +
                std::string(vm.name) + "\": " + r.message;
  }
  return failures.empty() ? Status::Ok() : Status::Error(failures);
}

Status HookDispatcher::Tick(Plugin& plugin, int64_t now_unix_ms) {
  auto tick = plugin.library->hooks.tick;
  if (tick == nullptr || plugin.state != PluginState::kOk) return Status::Ok();
  HookOutcome r =
      Call(plugin, "tick", [&](banger_message* m) { return tick(plugin.self, now_unix_ms, m); });
  if (r.code == BANGER_OK || r.code == BANGER_SKIP) return Status::Ok();
  return Status::Error(plugin.name + ": tick: " + r.message);
}

std::optional<std::string> HookDispatcher::Rediscover(const std::string& capability,
                                                      const banger_vm& vm, const std::string& key) {
  Plugin* p = registry_.Find(capability);
  if (p == nullptr || p->state != PluginState::kOk || !p->library->hooks.rediscover) {
    return std::nullopt;
  }
  auto rediscover = p->library->hooks.rediscover;
  char value[BANGER_HANDLE_VALUE_MAX + 1] = {0};
  HookOutcome r = Call(
      *p, "rediscover",
      [&](banger_message* m) {
        return rediscover(p->self, &vm, key.c_str(), value, sizeof value, m);
      },
      BANGER_NOT_FOUND);
  if (r.code == BANGER_OK) return std::string(value);
  if (r.code != BANGER_NOT_FOUND) {
    logger_.Warn(capability, "rediscover " + key + " for vm \"" + vm.name + "\": " + r.message);
  }
  return std::nullopt;
}

namespace {

// A JSON reply written through a banger_writer: the writer the capability
// calls is noexcept, so nothing unwinds through its frames; a write it
// cannot keep spoils the reply instead.
struct Reply {
  std::string text;
  bool spoiled = false;
  banger_writer Writer() {
    return {this, [](void* ctx, const char* data, size_t len) noexcept {
              auto* r = static_cast<Reply*>(ctx);
              if (r->spoiled) return;
              if ((data == nullptr && len > 0) || len > kMaxReplyBytes - r->text.size()) {
                r->spoiled = true;
                return;
              }
              try {
                r->text.append(data, len);
              } catch (...) {
                r->spoiled = true;
              }
            }};
  }
  Result<std::string> Take(const std::string& who) {
    if (spoiled) {
      return Status::Error(who + ": its reply was not kept (over " +
                           std::to_string(kMaxReplyBytes >> 20) +
                           " MiB, or written from a null pointer)");
    }
    return std::move(text);
  }
};

}  // namespace

Result<std::string> HookDispatcher::Query(const std::string& capability, const std::string& verb,
                                          const banger_vm& vm, const std::string& args_json) {
  Plugin* p = registry_.Find(capability);
  if (p == nullptr || p->state != PluginState::kOk || p->library->hooks.query == nullptr) {
    return Status::Error("capability " + capability + " cannot answer '" + verb +
                         "': it is not running");
  }
  Reply reply;
  banger_writer out = reply.Writer();
  auto query = p->library->hooks.query;
  HookOutcome r = Call(*p, "query", [&](banger_message* m) {
    return query(p->self, verb.c_str(), &vm, args_json.c_str(), &out, m);
  });
  if (r.code != BANGER_OK) return Status::Error(capability + ": " + verb + ": " + r.message);
  return reply.Take(capability + ": " + verb);
}

Result<std::string> HookDispatcher::Command(const std::string& capability, const std::string& verb,
                                            const std::string& args_json) {
  Plugin* p = registry_.Find(capability);
  if (p == nullptr || p->state != PluginState::kOk || p->library->hooks.command == nullptr) {
    return Status::Error("capability " + capability + " cannot answer '" + verb +
                         "': it is not running");
  }
  Reply reply;
  banger_writer out = reply.Writer();
  auto command = p->library->hooks.command;
  HookOutcome r = Call(*p, "command", [&](banger_message* m) {
    return command(p->self, verb.c_str(), args_json.c_str(), &out, m);
  });
  if (r.code != BANGER_OK) return Status::Error(capability + ": " + verb + ": " + r.message);
  return reply.Take(capability + ": " + verb);
}

Status HookDispatcher::ValidateOptions(const std::map<std::string, std::string>& options) {
  // Grouped by capability: "nat.egress" -> nat: {egress}.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> by_capability;
  for (const auto& [name, value] : options) {
    auto dot = name.find('.');
    by_capability[name.substr(0, dot)].emplace_back(name.substr(dot + 1), value);
  }
  for (const auto& [capability, own] : by_capability) {
    const std::string first = "option '" + capability + "." + own.front().first + "'";
    Plugin* p = registry_.Find(capability);
    if (p == nullptr || p->state != PluginState::kOk) {
      std::string running;
      for (Plugin* r : Running()) running += (running.empty() ? "" : ", ") + r->name;
      return Status::Invalid(first + ": no capability '" + capability + "' is running (running: " +
                             (running.empty() ? "none" : running) + ")");
    }
    auto validate = p->library->hooks.validate_options;
    if (validate == nullptr) {
      return Status::Invalid(first + ": " + capability + " takes no per-VM options");
    }
    std::vector<const char*> keys, values;
    for (const auto& [k, v] : own) {
      keys.push_back(k.c_str());
      values.push_back(v.c_str());
    }
    const size_t count = own.size();  // (a structured binding: not captured, for clang 14)
    HookOutcome r = Call(*p, "validate_options", [&](banger_message* m) {
      return validate(p->self, keys.data(), values.data(), count, m);
    });
    if (r.code != BANGER_OK) return Status::Invalid(capability + ": " + r.message);
  }
  return Status::Ok();
}

}  // namespace banger::core
