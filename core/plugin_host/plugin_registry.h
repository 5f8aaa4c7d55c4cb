// PluginRegistry: what is loaded. Discovers the capability files in the
// configured directories, loads each one (CapabilityLibrary), matches them
// with [plugins] enable/required and their config sections, and orders the
// enabled ones by dependency. It does not call hooks (HookDispatcher does).
//
// Plugin state moves kLoaded -> kOk | kSkip | kError during init, under the
// dispatcher; after init, only the HookStats inside a Plugin change (they are
// synchronised). The registry itself is built once and then read-only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/plugin_host/capability_library.h"
#include "core/plugin_host/hook_stats.h"
#include "core/plugin_host/plugin_selection.h"

namespace banger::core {

enum class PluginState {
  kLoaded,    // enabled, file valid, dependencies ordered; init not run yet
  kOk,        // init succeeded
  kDisabled,  // found, not enabled
  kSkip,      // init said it cannot run here
  kError,     // could not be loaded, ordered or initialised
};

std::string PluginStateName(PluginState s);  // "ok", "disabled", "skip", "error", "loaded"

struct Plugin;
// A problem with `key` of a capability's section, pointed at where the
// operator fixes it: "config error: FILE:LINE: [name] KEY: why" (without the
// line when the key is not set, i.e. its default is at fault).
std::string ConfigErrorAt(const Plugin& p, const std::string& key, const std::string& why);

struct Plugin {
  std::string name;
  std::string path;  // "" when an enabled name matched no file
  bool enabled = false;
  bool required = false;
  PluginState state = PluginState::kError;
  std::string reason;                        // why skip/error
  std::optional<CapabilityLibrary> library;  // present when the file loaded
  std::string declared_abi;                  // from a refused descriptor, if read
  std::vector<ConfigEntry> config;           // its [name] section
  std::string config_file;                   // the file it was read from
  void* self = nullptr;                      // from init
  HookStats stats;

  // "ok", "disabled", "skip: <why>", "error: <why>".
  std::string StatusText() const;
};

class PluginRegistry {
 public:
  // Called with each file's path just before it is loaded. Returning a
  // reason skips loading that file and records it as an error with that
  // reason (bangerctl's offline mode uses this to name, and then step over,
  // a file that crashed the loader in an earlier attempt).
  using LoadObserver = std::function<std::optional<std::string>(const std::string& path)>;

  static std::unique_ptr<PluginRegistry> Discover(const PluginSelection& config,
                                                  const PluginFilePolicy& policy,
                                                  const LoadObserver& before_load = {});

  // Every plugin known: enabled ones in dependency order, then the rest by name.
  const std::vector<std::unique_ptr<Plugin>>& all() const { return plugins_; }
  // Enabled plugins whose dependencies could be ordered, dependencies first.
  const std::vector<Plugin*>& ordered() const { return ordered_; }
  Plugin* Find(const std::string& name) const;
  // Problems that belong to no single plugin (a missing plugin dir).
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  // Orders the enabled, loadable plugins by dependency into ordered_ and
  // takes every plugin found, sorted for display.
  void OrderEnabled(const PluginSelection& config, std::vector<std::unique_ptr<Plugin>>& found,
                    const std::map<std::string, Plugin*>& by_name,
                    const std::map<std::string, std::string>& unavailable);

  std::vector<std::unique_ptr<Plugin>> plugins_;
  std::vector<Plugin*> ordered_;
  std::vector<std::string> warnings_;
};

}  // namespace banger::core
