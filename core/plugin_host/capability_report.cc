#include "core/plugin_host/capability_report.h"

#include <nlohmann/json.hpp>

#include "banger/capability.h"

namespace banger::core {
namespace {

using nlohmann::json;

json PluginJson(const Plugin& p, const VerbRegistry* verbs) {
  json j;
  j["name"] = p.name;
  j["path"] = p.path;
  j["enabled"] = p.enabled;
  j["required"] = p.required;
  j["status"] = PluginStateName(p.state);
  j["reason"] = p.reason;
  j["status_text"] = p.StatusText();
  const auto* lib = p.library ? &*p.library : nullptr;
  j["version"] = lib ? lib->version : "";
  j["abi"] =
      lib ? std::to_string(lib->abi_major) + "." + std::to_string(lib->abi_minor) : p.declared_abi;
  j["description"] = lib ? lib->description : "";
  j["requires"] = lib ? lib->dependencies : std::vector<std::string>{};
  j["hooks"] = lib ? DescribeHooks(lib->hooks) : "";
  j["tick_interval_ms"] = lib ? lib->hooks.tick_interval_ms : 0;

  // Declared keys with their documentation, then keys set but not declared.
  json config = json::array();
  auto value_of = [&](const std::string& key) -> const ConfigEntry* {
    for (const auto& e : p.config) {
      if (e.key == key) return &e;
    }
    return nullptr;
  };
  if (lib) {
    for (const auto& k : lib->config_keys) {
      const ConfigEntry* set = value_of(k.key);
      config.push_back({{"key", k.key},
                        {"default", k.default_value},
                        {"description", k.description},
                        {"set", set != nullptr},
                        {"value", set ? set->value : k.default_value}});
    }
  }
  for (const auto& e : p.config) {
    bool declared = lib && std::any_of(lib->config_keys.begin(), lib->config_keys.end(),
                                       [&](const ConfigKeyDoc& k) { return k.key == e.key; });
    if (!declared) {
      config.push_back({{"key", e.key},
                        {"default", ""},
                        {"description", ""},
                        {"set", true},
                        {"value", e.value}});
    }
  }
  j["config"] = config;

  json verb_list = json::array();
  if (verbs) {
    for (const auto& v : verbs->OfCapability(p.name)) {
      verb_list.push_back({{"verb", v.verb}, {"summary", v.summary}});
    }
  }
  j["verbs"] = verb_list;
  json command_list = json::array();
  if (verbs) {
    for (const auto& c : verbs->CommandsOf(p.name)) {
      command_list.push_back({{"command", c.verb}, {"summary", c.summary}});
    }
  }
  j["commands"] = command_list;

  auto snap = p.stats.Snapshot();
  json hooks = json::object();
  for (const auto& [hook, c] : snap.hooks) {
    hooks[hook] = {{"calls", c.calls},
                   {"failures", c.failures},
                   {"total_ms", static_cast<double>(c.total_ns) / 1e6},
                   {"max_ms", static_cast<double>(c.max_ns) / 1e6},
                   {"avg_ms", c.calls ? static_cast<double>(c.total_ns) / 1e6 / c.calls : 0.0}};
  }
  j["stats"] = {{"hooks", hooks},
                {"last_error", snap.last_error},
                {"last_error_hook", snap.last_error_hook},
                {"last_error_at_ms", snap.last_error_at_ms}};
  return j;
}

}  // namespace

std::string CapabilityReport(const Plugin& plugin, const VerbRegistry* verbs) {
  return PluginJson(plugin, verbs).dump(2) + "\n";
}

std::string CapabilitiesReport(const PluginRegistry& registry, const VerbRegistry* verbs,
                               bool offline) {
  json list = json::array();
  for (const auto& p : registry.all()) list.push_back(PluginJson(*p, verbs));
  json j{{"agent_abi", std::to_string(BANGER_ABI_MAJOR) + "." + std::to_string(BANGER_ABI_MINOR)},
         {"offline", offline},
         {"capabilities", list},
         {"warnings", registry.warnings()}};
  return j.dump(2) + "\n";
}

}  // namespace banger::core
