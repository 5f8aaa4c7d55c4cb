// HookDispatcher: calls capability hooks, in dependency order (prepare, init)
// or reverse order (cleanup, shutdown), each call guarded (an exception that
// escapes a plugin is caught and becomes an error), timed and counted in the
// plugin's HookStats. It owns no plugin; the registry does.
// Thread-safety: InitAll and ShutdownAll run alone; Prepare, Cleanup, Query
// and Tick may run concurrently from several threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "banger/capability.h"
#include "core/base/logger.h"
#include "core/base/status.h"
#include "core/plugin_host/host_table.h"
#include "core/plugin_host/plugin_registry.h"

namespace banger::core {

class HookDispatcher {
 public:
  HookDispatcher(PluginRegistry& registry, HostTable& host_table, const Logger& logger)
      : registry_(registry), host_table_(host_table), logger_(logger) {}

  // Runs init for every enabled capability in dependency order. One whose
  // dependency did not come up is not initialised and says why. Returns an
  // error naming each required capability that is not ok; optional failures
  // are logged and leave the agent running without them.
  Status InitAll();

  // Runs shutdown for every initialised capability, in reverse order.
  void ShutdownAll();

  // Capabilities that initialised, in dependency order.
  std::vector<Plugin*> Running() const;

  // Runs the reserve hook (ABI 1.3) of every running capability that has one,
  // in dependency order: each records the identities its prepare will use
  // and creates nothing. On a failure every capability whose reserve ran
  // (the failed one too) is cleaned up, in reverse order, and the error
  // names the capability. Names of capabilities whose rollback cleanup
  // failed go to `rollback_failed` and of every one cleaned up to
  // `rolled_back` (if given).
  Status Reserve(const banger_vm& vm, std::vector<std::string>* rollback_failed = nullptr,
                 std::vector<std::string>* rolled_back = nullptr);
  // Cleans up every running capability that has a reserve hook, in reverse
  // order: what a start whose reservations were never recorded undoes.
  Status CleanupReserved(const banger_vm& vm, std::vector<std::string>* failed = nullptr);

  // Prepares `vm` with every running capability in order. On a failure the
  // failed capability and the ones before it are cleaned up (reverse order),
  // and with `reserved` every capability whose reserve ran for this start
  // too; the error names the capability and any cleanup failures.
  // `around` (optional) is called with each capability's name before its
  // prepare and with "" after it (the lifecycle tracks who may contribute).
  // Names of capabilities whose rollback cleanup failed go to
  // `rollback_failed` (if given).
  Status Prepare(const banger_vm& vm, const std::function<void(const std::string&)>& around = {},
                 std::vector<std::string>* rollback_failed = nullptr, bool reserved = false);

  // Cleans up `vm` with every running capability in reverse order; each one
  // is called even when an earlier one failed; failures are joined. The
  // names of the capabilities that failed go to `failed` (if given).
  Status Cleanup(const banger_vm& vm, std::vector<std::string>* failed = nullptr);

  // Runs `plugin`'s tick.
  Status Tick(Plugin& plugin, int64_t now_unix_ms);

  // Asks `capability`'s rediscover hook for handle `key` of `vm`. nullopt
  // when it has no such hook, finds nothing, or fails (logged).
  std::optional<std::string> Rediscover(const std::string& capability, const banger_vm& vm,
                                        const std::string& key);

  // Checks per-VM options ("<capability>.<key>" -> value) before a create:
  // each prefix must name a running capability that has a validate_options
  // hook, and that hook must accept its own (keys without the prefix).
  // Invalid, naming the option and why, otherwise.
  Status ValidateOptions(const std::map<std::string, std::string>& options);

  // Calls `capability`'s command hook (a capability-wide command); the reply
  // is its JSON text. Under no VM's lock.
  Result<std::string> Command(const std::string& capability, const std::string& verb,
                              const std::string& args_json);

  // Calls `capability`'s query hook; the reply is its JSON text.
  Result<std::string> Query(const std::string& capability, const std::string& verb,
                            const banger_vm& vm, const std::string& args_json);

 private:
  // reserve or prepare: the same signature, the same order and rollback.
  using StartHook = int (*)(void* self, const banger_vm* vm, banger_message* msg);
  using StartHookOf = StartHook (*)(const CapabilityHooks& hooks);
  Status RunStartHook(const char* hook, StartHookOf hook_of, const banger_vm& vm,
                      const std::function<void(const std::string&)>& around,
                      std::vector<std::string>* rollback_failed, bool reserved,
                      std::vector<std::string>* rolled_back = nullptr);
  Status CleanupThrough(const banger_vm& vm, const std::vector<Plugin*>& plugins,
                        std::vector<std::string>* failed = nullptr);

  PluginRegistry& registry_;
  HostTable& host_table_;
  const Logger& logger_;
};

}  // namespace banger::core
