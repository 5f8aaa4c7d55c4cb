#include "core/plugin_host/plugin_registry.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "core/base/duration.h"
#include "core/plugin_host/dependency_order.h"

namespace banger::core {
namespace fs = std::filesystem;

std::string PluginStateName(PluginState s) {
  switch (s) {
    case PluginState::kLoaded:
      return "loaded";
    case PluginState::kOk:
      return "ok";
    case PluginState::kDisabled:
      return "disabled";
    case PluginState::kSkip:
      return "skip";
    case PluginState::kError:
      return "error";
  }
  return "error";
}

std::string Plugin::StatusText() const {
  std::string s = PluginStateName(state);
  if ((state == PluginState::kSkip || state == PluginState::kError) && !reason.empty()) {
    s += ": " + reason;
  }
  return s;
}

namespace {

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Candidate files of one plugin dir: regular files or links named *.so,
// sorted so the load order does not depend on the directory's order.
std::vector<std::string> ListCandidates(const std::string& dir,
                                        std::vector<std::string>& warnings) {
  std::vector<std::string> files;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    warnings.push_back("plugin dir " + dir + ": " + ec.message());
    return files;
  }
  for (const auto& entry : it) {
    const auto& p = entry.path();
    if (p.extension() == ".so") files.push_back(p.string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

std::string ConfigErrorAt(const Plugin& p, const std::string& key, const std::string& why) {
  std::string where = p.config_file;
  bool set = false;
  for (const auto& e : p.config) {
    if (e.key != key) continue;
    where += (where.empty() ? "line " : ":") + std::to_string(e.line);
    set = true;
  }
  return "config error: " + where + (where.empty() ? "" : ": ") + "[" + p.name + "] " + key + ": " +
         why + (set ? "" : " (not set: its default)");
}

namespace {

// Keys every capability's section may hold, read by the host itself.
constexpr const char* kTickIntervalKey = "tick_interval";

// [name] tick_interval = 2s: the tick's interval instead of the
// descriptor's. An error text, or "".
std::string ApplyHostKeys(Plugin& p) {
  for (const auto& entry : p.config) {
    if (entry.key != kTickIntervalKey) continue;
    if (p.library->hooks.tick == nullptr) {
      return ConfigErrorAt(p, entry.key, p.name + " has no tick hook");
    }
    auto ms = ParseDuration(entry.value);
    if (!ms || ms->count() <= 0 || ms->count() > 0xFFFFFFFFll) {
      return ConfigErrorAt(p, entry.key,
                           "'" + entry.value +
                               "' is not a duration above 0; write it like 500ms "
                               "or 2s");
    }
    p.library->hooks.tick_interval_ms = static_cast<uint32_t>(ms->count());
  }
  return "";
}

// Checks a section against the keys a capability declares.
std::string UnknownConfigKey(const Plugin& p) {
  if (!p.library || !p.library->declares_config_keys) return "";
  for (const auto& entry : p.config) {
    if (entry.key == kTickIntervalKey) continue;  // the host's
    bool known = std::any_of(p.library->config_keys.begin(), p.library->config_keys.end(),
                             [&](const ConfigKeyDoc& k) { return k.key == entry.key; });
    if (known) continue;
    std::string keys;
    for (const auto& k : p.library->config_keys) keys += (keys.empty() ? "" : ", ") + k.key;
    return ConfigErrorAt(p, entry.key,
                         "unknown key; it takes: " + (keys.empty() ? "no keys" : keys));
  }
  return "";
}

// Every plugin found so far, and the first one of each name.
struct Found {
  std::vector<std::unique_ptr<Plugin>> plugins;
  std::map<std::string, Plugin*> by_name;

  void Add(std::unique_ptr<Plugin> p) {
    auto [it, inserted] = by_name.emplace(p->name, p.get());
    if (!inserted) {
      p->state = PluginState::kError;
      p->reason = "duplicate name '" + p->name + "': already provided by " + it->second->path;
    }
    plugins.push_back(std::move(p));
  }
  bool IsFirst(const Plugin& p) const { return by_name.at(p.name) == &p; }
};

// One candidate file, loaded (or the reason it was not).
std::unique_ptr<Plugin> LoadFile(const std::string& path, const PluginFilePolicy& policy,
                                 const PluginRegistry::LoadObserver& before_load) {
  auto p = std::make_unique<Plugin>();
  p->path = path;
  std::optional<std::string> veto = before_load ? before_load(path) : std::nullopt;
  std::string seen_name;
  Result<CapabilityLibrary> lib =
      veto ? Result<CapabilityLibrary>(Status::Error(*veto))
           : LoadCapabilityLibrary(path, policy, &p->declared_abi, &seen_name);
  if (!lib) {
    // Listed under the name its descriptor gives when one was read (so an
    // enabled "hosts" in hosts-v2.so shows this error once, not also as
    // "not found"); else the file name stands in, so that an enabled "tap"
    // whose tap.so is broken shows that error.
    p->name = seen_name.empty() ? fs::path(path).stem().string() : seen_name;
    p->state = PluginState::kError;
    p->reason = lib.status().message();
  } else {
    p->name = lib->name;
    p->library = std::move(lib.value());
    p->state = PluginState::kLoaded;
  }
  return p;
}

// An enabled name no plugin dir provides: an error entry of its own.
std::unique_ptr<Plugin> MissingPlugin(const std::string& name, const PluginSelection& config) {
  auto p = std::make_unique<Plugin>();
  p->name = name;
  p->state = PluginState::kError;
  std::string dirs;
  for (const auto& d : config.plugin_dirs) dirs += (dirs.empty() ? "" : ", ") + d;
  p->reason = "enabled, but no plugin dir has it (looked in " + dirs + ")";
  return p;
}

// Marks each plugin enabled/required/disabled and gives it its config
// section. Returns, by name, why each one that cannot be a dependency cannot.
std::map<std::string, std::string> ApplySelection(const PluginSelection& config, Found& found) {
  std::map<std::string, std::string> unavailable;
  for (auto& p : found.plugins) {
    bool is_first = found.IsFirst(*p);
    p->enabled = is_first && Contains(config.enabled, p->name);
    p->required = is_first && Contains(config.required, p->name);
    if (auto sec = config.sections.find(p->name); sec != config.sections.end()) {
      p->config = sec->second;
    }
    p->config_file = config.config_file;
    if (!p->enabled) {
      if (p->state == PluginState::kLoaded) p->state = PluginState::kDisabled;
      if (is_first) {
        unavailable.emplace(p->name, p->state == PluginState::kDisabled
                                         ? "is not enabled (add it to [plugins] enable)"
                                         : "cannot be loaded: " + p->reason);
      }
      continue;
    }
    if (p->state == PluginState::kLoaded) {
      std::string why = UnknownConfigKey(*p);
      if (why.empty()) why = ApplyHostKeys(*p);
      if (!why.empty()) {
        p->state = PluginState::kError;
        p->reason = why;
      }
    }
    if (p->state != PluginState::kLoaded) unavailable.emplace(p->name, "failed: " + p->reason);
  }
  return unavailable;
}

}  // namespace

std::unique_ptr<PluginRegistry> PluginRegistry::Discover(const PluginSelection& config,
                                                         const PluginFilePolicy& policy,
                                                         const LoadObserver& before_load) {
  auto reg = std::make_unique<PluginRegistry>();
  Found found;
  for (const auto& dir : config.plugin_dirs) {
    for (const auto& path : ListCandidates(dir, reg->warnings_)) {
      found.Add(LoadFile(path, policy, before_load));
    }
  }
  for (const auto& name : config.enabled) {
    if (!found.by_name.count(name)) found.Add(MissingPlugin(name, config));
  }
  auto unavailable = ApplySelection(config, found);
  reg->OrderEnabled(config, found.plugins, found.by_name, unavailable);
  return reg;
}

void PluginRegistry::OrderEnabled(const PluginSelection& config,
                                  std::vector<std::unique_ptr<Plugin>>& found,
                                  const std::map<std::string, Plugin*>& by_name,
                                  const std::map<std::string, std::string>& unavailable) {
  // Ordered in the order `enable` lists them, so that independent
  // capabilities initialise in the order the operator wrote.
  std::vector<DependencyNode> nodes;
  for (const auto& name : config.enabled) {
    Plugin* p = by_name.at(name);
    if (p->state == PluginState::kLoaded) nodes.push_back({name, p->library->dependencies});
  }
  auto order = OrderByDependencies(nodes, unavailable);
  for (const auto& [name, why] : order.refused) {
    Plugin* p = by_name.at(name);
    p->state = PluginState::kError;
    p->reason = why;
  }
  std::set<Plugin*> placed;
  for (const auto& name : order.order) {
    ordered_.push_back(by_name.at(name));
    placed.insert(by_name.at(name));
  }

  // Display order: the enabled, usable ones as they will run, then the rest.
  std::stable_sort(found.begin(), found.end(), [&](const auto& a, const auto& b) {
    bool pa = placed.count(a.get()), pb = placed.count(b.get());
    if (pa != pb) return pa;
    if (pa) {
      return std::find(order.order.begin(), order.order.end(), a->name) <
             std::find(order.order.begin(), order.order.end(), b->name);
    }
    return a->name < b->name;
  });
  plugins_ = std::move(found);
}

Plugin* PluginRegistry::Find(const std::string& name) const {
  for (const auto& p : plugins_) {
    if (p->name == name) return p.get();
  }
  return nullptr;
}

}  // namespace banger::core
