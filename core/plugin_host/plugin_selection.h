// PluginSelection: which capabilities the agent uses and with what config, as
// read from its config file (the [plugins] section, the plugin directories and
// one [<name>] section per capability). The registry loads from it; the
// agent's config (core/agent/agent_config.h) carries one. Plain value type.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace banger::core {

// A capability's name: what its descriptor says, what [plugins] lists and
// what heads its config section. Written into messages as the rule below.
inline constexpr const char* kCapabilityNameRule = "[a-z0-9][a-z0-9_-]{0,31}";
bool IsCapabilityName(std::string_view name);

// One `key = value` line of a capability's section, in file order.
struct ConfigEntry {
  std::string key;
  std::string value;
  int line = 0;
};

struct PluginSelection {
  std::vector<std::string> plugin_dirs;
  std::vector<std::string> enabled;                          // [plugins] enable, in order given
  std::vector<std::string> required;                         // [plugins] required (implies enabled)
  std::map<std::string, std::vector<ConfigEntry>> sections;  // [name] -> entries
  std::string config_file;  // where the sections were read, for messages ("" for none)
};

}  // namespace banger::core
