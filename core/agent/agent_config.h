// AgentConfig: bangerd's configuration, read from an INI file (bangerd.conf)
// and overridden by command-line flags. Sections:
//   [core]     the agent's own keys (see config/bangerd.conf for each one)
//   [plugins]  enable = a,b,c   required = a
//   [<name>]   one per capability; its keys reach that capability verbatim
// Parsing is pure (text in, value out) so it is testable without files.
// Errors name the key and the line. Plain value type; not synchronised.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/logger.h"
#include "core/base/status.h"
#include "core/plugin_host/capability_library.h"
#include "core/plugin_host/plugin_selection.h"

namespace banger::core {

// The agent's own keys, and (inherited) which capabilities to load with what.
struct AgentConfig : PluginSelection {
  std::string source;  // the file it came from, or "" for built-in defaults
  std::string state_dir = "/var/lib/banger";
  std::string socket_path = "/run/banger/bangerd.sock";
  std::string socket_group;  // "" = no group: root and the agent's uid only
  LogLevel log_level = LogLevel::kInfo;
  LogFormat log_format = LogFormat::kText;
  bool allow_plugin_symlinks = false;
  uint64_t store_map_size_mib = 64;                        // initial LMDB map size; grows when full
  std::string vmm_binary = "firecracker";                  // a path, or a name looked up in PATH
  std::chrono::milliseconds vmm_ready_timeout{5000};       // launch: API must answer by then
  std::chrono::milliseconds vmm_stop_timeout{10000};       // SendCtrlAltDel grace before SIGKILL
  std::chrono::milliseconds vmm_api_timeout{5000};         // each Firecracker API call
  std::chrono::milliseconds reconcile_interval{30000};     // periodic reconcile of VMs
  std::chrono::milliseconds store_copy_interval{3600000};  // 0: copies at shutdown only
  size_t store_copies_keep = 3;                            // newest copies kept
  uint64_t console_log_max_bytes = 8ull << 20;             // a VM's console log file, then rotated
  size_t console_log_keep = 1;                             // rotated files kept per VM
  std::vector<std::string> image_dirs;                // images anyone who may create a VM may use
  std::chrono::milliseconds api_head_timeout{10000};  // a request head must arrive by then
  std::chrono::milliseconds api_body_timeout{30000};
  size_t api_connections_per_uid = 64;  // for uids other than root and the agent's
  std::string metrics_listen;           // "127.0.0.1:9464": Prometheus text over HTTP; "" = off
  // Jailed VMMs (docs/SECURITY.md): the jailer, where jails go, the uids
  // (and gids) VMMs run as, the cgroup version ("" = detect).
  std::string jailer_binary;  // "" = VMMs run unjailed, as the agent's user
  std::string chroot_base;    // "": <state_dir>/jail
  uint32_t jailer_uid_first = 900000, jailer_uid_last = 965535;
  int cgroup_version = 0;            // 0 = detect
  std::map<std::string, int> lines;  // "core.socket" -> line it was set on
};

// Where the agent keeps the copies of its store (--recover-store reads them).
std::string StoreCopiesDir(const AgentConfig& config);

// Where an installed agent looks for capabilities when the config names none.
const char* DefaultPluginDir();
// The config file bangerd reads when --config is not given (if it exists).
// The [core] keys as bangerd.conf(5) documents them: from the table the
// parser itself uses, so the page cannot name a key the agent does not take.
std::vector<ConfigKeyDoc> CoreConfigKeys();

inline constexpr const char* kDefaultConfigPath = "/etc/banger/bangerd.conf";

// Parses bangerd.conf text. `source` names the file in error messages.
// Errors (first one found): a line that is not INI, a key outside a section,
// an unknown [core] or [plugins] key, a key set twice, a bad value; each says
// "<source>:<line>: <section>.<key>: <why>".
Result<AgentConfig> ParseAgentConfig(const std::string& text, const std::string& source);

// Reads and parses a file; an unreadable file is an error naming it.
Result<AgentConfig> LoadAgentConfigFile(const std::string& path);

// Checks what needs the host to judge (does socket_group exist). Called
// after command-line overrides are applied.
Status ValidateAgentConfig(const AgentConfig& config);

// Splits "a, b,,c" into {"a","b","c"}.
std::vector<std::string> SplitList(const std::string& text);

// Parses true/false/yes/no/on/off/1/0.
std::optional<bool> ParseBool(const std::string& text);

}  // namespace banger::core
