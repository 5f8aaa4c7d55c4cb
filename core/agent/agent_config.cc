#include "core/agent/agent_config.h"

#include <grp.h>
#include <sys/un.h>

#include <algorithm>
#include <boost/program_options/options_description.hpp>
#include <boost/program_options/parsers.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <sstream>
#include "core/base/duration.h"

namespace banger::core {
namespace po = boost::program_options;

#ifndef BANGER_DEFAULT_PLUGIN_DIR
#define BANGER_DEFAULT_PLUGIN_DIR "/usr/local/lib/banger/plugins"
#endif

const char* DefaultPluginDir() {
  return BANGER_DEFAULT_PLUGIN_DIR;
}

namespace {

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// Line numbers of every "section.key" occurrence, in file order.
// Boost.Program_options parses the INI syntax but does not keep line numbers;
// this scan follows the same rules (sections in [], '#' comments, key before
// the first '=') only to locate a key for an error message.
std::map<std::string, std::vector<int>> IndexLines(const std::string& text) {
  std::map<std::string, std::vector<int>> index;
  std::istringstream in(text);
  std::string line, section;
  for (int n = 1; std::getline(in, line); ++n) {
    auto hash = line.find('#');
    if (hash != std::string::npos) line.erase(hash);
    line = Trim(line);
    if (line.empty()) continue;
    if (line.front() == '[' && line.back() == ']') {
      section = Trim(line.substr(1, line.size() - 2));
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = Trim(line.substr(0, eq));
    index[section.empty() ? key : section + "." + key].push_back(n);
  }
  return index;
}

}  // namespace

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    item = Trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::optional<bool> ParseBool(const std::string& text) {
  if (text == "true" || text == "yes" || text == "on" || text == "1") return true;
  if (text == "false" || text == "no" || text == "off" || text == "0") return false;
  return std::nullopt;
}

namespace {

// A [core] key: how to set it from its text; returns why the text is refused.
struct CoreKey {
  const char* name;
  std::optional<std::string> (*set)(const std::string& value, AgentConfig& config);
  const char* default_value = "";  // as written in the config file
  const char* help = "";           // one sentence, for bangerd.conf(5)
};

std::optional<std::string> SetDuration(const std::string& value, std::chrono::milliseconds& out) {
  auto d = ParseDuration(value);
  if (!d || d->count() == 0) {
    return "'" + value + "' is not a duration; write it like 500ms, 10s or 2m";
  }
  out = *d;
  return std::nullopt;
}

// "64K", "8M", "1G" or bytes; from 64 KiB to 1 TiB.
std::optional<std::string> SetBytes(const std::string& value, uint64_t& out) {
  size_t used = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(value, &used);
  } catch (...) {
    used = 0;
  }
  std::string unit = value.substr(used);
  uint64_t mult = unit == ""    ? 1
                  : unit == "K" ? 1ull << 10
                  : unit == "M" ? 1ull << 20
                  : unit == "G" ? 1ull << 30
                                : 0;
  if (used == 0 || mult == 0 || n > (1ull << 40) / mult || n * mult < (64ull << 10)) {
    return "'" + value + "' is not a size from 64K to 1024G (a number, then K, M or G)";
  }
  out = n * mult;
  return std::nullopt;
}

std::optional<std::string> SetCount(const std::string& value, size_t min, size_t max,
                                    const char* what, size_t& out) {
  size_t used = 0;
  unsigned long n = 0;
  try {
    n = std::stoul(value, &used);
  } catch (...) {
    used = 0;
  }
  if (used != value.size() || value.empty() || n < min || n > max) {
    return "'" + value + "' is not a number of " + what + " from " + std::to_string(min) + " to " +
           std::to_string(max);
  }
  out = n;
  return std::nullopt;
}

std::optional<std::string> SetSocketPath(const std::string& value, AgentConfig& c) {
  if (value.empty()) return "must not be empty";
  if (value.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return "path is " + std::to_string(value.size()) +
           " bytes; a UNIX socket path must be shorter than " +
           std::to_string(sizeof(sockaddr_un{}.sun_path));
  }
  c.socket_path = value;
  return std::nullopt;
}

std::optional<std::string> SetMapSize(const std::string& value, AgentConfig& c) {
  uint64_t mib = 0;
  try {
    size_t used = 0;
    mib = std::stoull(value, &used);
    if (used != value.size()) mib = 0;
  } catch (...) {
    mib = 0;
  }
  if (mib == 0 || mib > (1u << 20))
    return "'" + value + "' is not a size in MiB between 1 and 1048576";
  c.store_map_size_mib = mib;
  return std::nullopt;
}

std::optional<std::string> SetMetricsListen(const std::string& value, AgentConfig& c) {
  if (!value.empty() && value.rfind("127.", 0) != 0 && value.rfind("[::1]:", 0) != 0) {
    return "'" + value +
           "' is not a loopback address:port (127.0.0.1:9464 or [::1]:9464); the metrics "
           "listener is for this host only";
  }
  c.metrics_listen = value;
  return std::nullopt;
}

// Every [core] key, in the order `unknown key` lists them.
const CoreKey kCoreKeys[] = {
    {"state_dir",
     [](const std::string& v, AgentConfig& c) -> std::optional<std::string> {
       if (v.empty()) return "must not be empty";
       c.state_dir = v;
       return std::nullopt;
     },
     "/var/lib/banger",
     "Where the agent keeps its state: VM records (LMDB), VM directories, capability state. "
     "Created 0700."},
    {"socket", SetSocketPath, "/run/banger/bangerd.sock",
     "The control socket (HTTP/1.1 and JSON; bangerctl and curl --unix-socket use it), created "
     "mode 0660."},
    {"socket_group",
     [](const std::string& v, AgentConfig& c) -> std::optional<std::string> {
       c.socket_group = v;
       return std::nullopt;
     },
     "",
     "A group whose members may use the control socket besides root and the agent's own user. "
     "Empty: nobody else."},
    {"plugin_dirs",
     [](const std::string& v, AgentConfig& c) -> std::optional<std::string> {
       c.plugin_dirs = SplitList(v);
       if (c.plugin_dirs.empty()) return "needs at least one directory";
       return std::nullopt;
     },
     "(the installed plugin dir)",
     "Comma-separated directories scanned for capabilities (*.so): regular files owned by root or "
     "the agent's user, not writable by group or others."},
    {"log_level",
     [](const std::string& v, AgentConfig& c) -> std::optional<std::string> {
       auto level = ParseLogLevel(v);
       if (!level) return "'" + v + "' is not a log level; use debug, info, warn or error";
       c.log_level = *level;
       return std::nullopt;
     },
     "info", "debug, info, warn or error."},
    {"log_format",
     [](const std::string& v, AgentConfig& c) -> std::optional<std::string> {
       auto format = ParseLogFormat(v);
       if (!format) return "'" + v + "' is not a log format; use text or json";
       c.log_format = *format;
       return std::nullopt;
     },
     "text",
     "text: \"<time> <level> <source>: <message> key=value ...\"; json: one object a line with "
     "time, level, capability, msg and the event's fields (op, vm, stage, ms, ...)."},
    {"allow_plugin_symlinks",
     [](const std::string& v, AgentConfig& c) -> std::optional<std::string> {
       auto b = ParseBool(v);
       if (!b) return "'" + v + "' is not a boolean; use true or false";
       c.allow_plugin_symlinks = *b;
       return std::nullopt;
     },
     "false", "Load capability files that are symbolic links (the target is checked)."},
    {"store_map_size_mib", SetMapSize, "64",
     "Initial size of the store's memory map in MiB; it bounds address space only and doubles when "
     "full."},
    {"vmm_binary",
     [](const std::string& v, AgentConfig& c) -> std::optional<std::string> {
       if (v.empty()) return "must not be empty (firecracker, or a path)";
       c.vmm_binary = v;
       return std::nullopt;
     },
     "firecracker", "The VMM: a name looked up in PATH, or a path."},
    {"vmm_ready_timeout",
     [](const std::string& v, AgentConfig& c) { return SetDuration(v, c.vmm_ready_timeout); }, "5s",
     "How long a new VMM may take to answer its API before the start fails."},
    {"vmm_stop_timeout",
     [](const std::string& v, AgentConfig& c) { return SetDuration(v, c.vmm_stop_timeout); }, "10s",
     "How long a stop waits after SendCtrlAltDel before SIGKILL."},
    {"vmm_api_timeout",
     [](const std::string& v, AgentConfig& c) { return SetDuration(v, c.vmm_api_timeout); }, "5s",
     "Deadline of each call to the VMM's API."},
    {"reconcile_interval",
     [](const std::string& v, AgentConfig& c) { return SetDuration(v, c.reconcile_interval); },
     "30s", "How often records are checked against running processes (also once at every start)."},
    {"metrics_listen", SetMetricsListen, "",
     "Serve the Prometheus text at GET /metrics on this loopback address (127.0.0.1:9464). Empty: "
     "off."},
    {"image_dirs",
     [](const std::string& v, AgentConfig& c) -> std::optional<std::string> {
       c.image_dirs = SplitList(v);
       for (auto& d : c.image_dirs) {
         if (d.empty() || d[0] != '/') return "'" + d + "' is not an absolute directory";
         while (d.size() > 1 && d.back() == '/') d.pop_back();
       }
       return std::nullopt;
     },
     "",
     "Directories of images anyone who may create a VM may use; any other path is opened with the "
     "caller's own credentials."},
    {"jailer_binary",
     [](const std::string& v, AgentConfig& c) -> std::optional<std::string> {
       c.jailer_binary = v;  // "" turns jailing off
       return std::nullopt;
     },
     "",
     "Firecracker's jailer: each VMM runs under a uid of its own, chrooted, in cgroups. Empty: "
     "VMMs run unjailed as the agent's user."},
    {"chroot_base",
     [](const std::string& v, AgentConfig& c) -> std::optional<std::string> {
       // Empty: <state_dir>/jail, on the state dir's file system and mount
       // (a hard link cannot cross a bind mount either: systemd's
       // ProtectSystem makes the state dir one).
       if (!v.empty() && v[0] != '/') return "'" + v + "' is not an absolute directory";
       c.chroot_base = v;
       while (c.chroot_base.size() > 1 && c.chroot_base.back() == '/') c.chroot_base.pop_back();
       return std::nullopt;
     },
     "",
     "Where jails are made (empty: <state_dir>/jail); on the state dir's file system and mount "
     "(jails hard-link the VM's disks)."},
    {"jailer_uids",
     [](const std::string& v, AgentConfig& c) -> std::optional<std::string> {
       auto dash = v.find('-');
       auto number = [](const std::string& t, uint32_t* out) {
         if (t.empty() || t.size() > 10 || t.find_first_not_of("0123456789") != std::string::npos)
           return false;
         uint64_t n = std::stoull(t);
         if (n == 0 || n >= 0xFFFFFFFFull) return false;
         *out = static_cast<uint32_t>(n);
         return true;
       };
       uint32_t first = 0, last = 0;
       if (dash == std::string::npos || !number(v.substr(0, dash), &first) ||
           !number(v.substr(dash + 1), &last) || last < first) {
         return "'" + v + "' is not a uid range FIRST-LAST (e.g. 900000-965535, never 0)";
       }
       c.jailer_uid_first = first;
       c.jailer_uid_last = last;
       return std::nullopt;
     },
     "900000-965535", "The uid (and gid) range jailed VMMs take theirs from."},
    {"cgroup_version",
     [](const std::string& v, AgentConfig& c) -> std::optional<std::string> {
       if (v != "auto" && v != "1" && v != "2") return "'" + v + "' is not auto, 1 or 2";
       c.cgroup_version = v == "auto" ? 0 : v == "1" ? 1 : 2;
       return std::nullopt;
     },
     "auto", "auto, 1 or 2: the cgroup hierarchy jailed VMMs are limited in."},
    {"api_head_timeout",
     [](const std::string& v, AgentConfig& c) { return SetDuration(v, c.api_head_timeout); }, "10s",
     "A request head must arrive within this (also how long an idle keep-alive connection stays)."},
    {"api_body_timeout",
     [](const std::string& v, AgentConfig& c) { return SetDuration(v, c.api_body_timeout); }, "30s",
     "A request body must arrive within this."},
    {"api_connections_per_uid",
     [](const std::string& v, AgentConfig& c) {
       return SetCount(v, 1, 100000, "connections", c.api_connections_per_uid);
     },
     "64", "Connections a uid other than root's and the agent's may hold."},
    {"store_copy_interval",
     [](const std::string& v, AgentConfig& c) -> std::optional<std::string> {
       if (v == "off") {
         c.store_copy_interval = std::chrono::milliseconds(0);
         return std::nullopt;
       }
       return SetDuration(v, c.store_copy_interval);
     },
     "1h", "How often a copy of the store is taken for --recover-store (off: at shutdown only)."},
    {"store_copies_keep",
     [](const std::string& v, AgentConfig& c) {
       return SetCount(v, 1, 100, "copies", c.store_copies_keep);
     },
     "3", "Store copies kept."},
    {"console_log_max",
     [](const std::string& v, AgentConfig& c) { return SetBytes(v, c.console_log_max_bytes); },
     "8M", "A VM's console log (vmm.log) is never larger; then it is rotated to vmm.log.1."},
    {"console_log_keep",
     [](const std::string& v, AgentConfig& c) {
       return SetCount(v, 1, 100, "files", c.console_log_keep);
     },
     "1", "Rotated console logs kept per VM."},
};

std::optional<std::string> SetCoreKey(const std::string& key, const std::string& value,
                                      AgentConfig& config) {
  for (const auto& k : kCoreKeys) {
    if (key == k.name) return k.set(value, config);
  }
  std::string names;
  for (const auto& k : kCoreKeys) names += std::string(names.empty() ? "" : ", ") + k.name;
  return "unknown key; [core] takes " + names;
}

std::optional<std::string> SetPluginsKey(const std::string& key, const std::string& value,
                                         AgentConfig& config) {
  if (key != "enable" && key != "required")
    return "unknown key; [plugins] takes enable and required";
  auto names = SplitList(value);
  for (const auto& n : names) {
    if (!IsCapabilityName(n)) return "'" + n + "' is not a capability name";
  }
  (key == "enable" ? config.enabled : config.required) = names;
  return std::nullopt;
}

std::optional<std::string> AddCapabilityEntry(const std::string& section, const std::string& key,
                                              const std::string& value, int line,
                                              AgentConfig& config) {
  if (!IsCapabilityName(section)) {
    return "[" + section + "] is not a capability name (" + std::string(kCapabilityNameRule) + ")";
  }
  auto& entries = config.sections[section];
  for (const auto& e : entries) {
    if (e.key == key) return "set twice (first on line " + std::to_string(e.line) + "); keep one";
  }
  entries.push_back({key, value, line});
  return std::nullopt;
}

// What a file leaves unsaid: the default plugin dir; required implies enabled.
void CompleteSelection(AgentConfig& config) {
  if (config.plugin_dirs.empty()) config.plugin_dirs.push_back(DefaultPluginDir());
  for (const auto& r : config.required) {
    if (std::find(config.enabled.begin(), config.enabled.end(), r) == config.enabled.end()) {
      config.enabled.push_back(r);
    }
  }
}

}  // namespace

std::vector<ConfigKeyDoc> CoreConfigKeys() {
  std::vector<ConfigKeyDoc> keys;
  for (const auto& k : kCoreKeys) keys.push_back({k.name, k.default_value, k.help});
  return keys;
}

Result<AgentConfig> ParseAgentConfig(const std::string& text, const std::string& source) {
  po::parsed_options parsed(nullptr);
  try {
    std::istringstream in(text);
    po::options_description none;
    parsed = po::parse_config_file(in, none, /*allow_unregistered=*/true);
  } catch (const po::invalid_config_file_syntax&) {
    // Not e.what(): Boost 1.74 puts the line into its message by replacing
    // "%invalid_line%" until none is left, so a line holding that text
    // never ends (found by agent_config_fuzz). The line is found here.
    std::istringstream in(text);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      std::string content = Trim(line.substr(0, line.find('#')));
      if (content.empty() || content.front() == '[' || content.find('=') != std::string::npos) {
        continue;
      }
      return Status::Error(source + ":" + std::to_string(number) + ": '" + content +
                           "' is neither a [section] nor key = value");
    }
    return Status::Error(source + ": a line is neither a [section] nor key = value");
  } catch (const po::error& e) {
    return Status::Error(source + ": " + e.what());
  }

  auto lines = IndexLines(text);
  std::map<std::string, int> seen_count;
  AgentConfig config;
  config.source = source;
  config.config_file = source;
  config.plugin_dirs.clear();
  for (const auto& opt : parsed.options) {
    const std::string& full = opt.string_key;
    std::string value = opt.value.empty() ? "" : Trim(opt.value.front());
    int occurrence = seen_count[full]++;
    const auto& at = lines[full];
    int line = occurrence < static_cast<int>(at.size()) ? at[occurrence] : 0;
    auto fail = [&](const std::string& why) {
      return Status::Error(source + ":" + std::to_string(line) + ": " + full + ": " + why);
    };

    auto dot = full.find('.');
    if (dot == std::string::npos) {
      return fail("key outside a section; put it under [core], [plugins] or a capability's [name]");
    }
    std::string section = full.substr(0, dot), key = full.substr(dot + 1);
    if (occurrence > 0 && (section == "core" || section == "plugins")) {
      return fail("set twice (first on line " + std::to_string(at.front()) + "); keep one");
    }
    config.lines[full] = line;
    std::optional<std::string> refused =
        section == "core"      ? SetCoreKey(key, value, config)
        : section == "plugins" ? SetPluginsKey(key, value, config)
                               : AddCapabilityEntry(section, key, value, line, config);
    if (refused) return fail(*refused);
  }
  CompleteSelection(config);
  return config;
}

Result<AgentConfig> LoadAgentConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error("cannot read config file " + path + ": " + std::strerror(errno));
  std::stringstream buf;
  buf << in.rdbuf();
  return ParseAgentConfig(buf.str(), path);
}

Status ValidateAgentConfig(const AgentConfig& config) {
  auto where = [&](const std::string& key) {
    auto it = config.lines.find(key);
    if (it == config.lines.end()) return key;
    return config.source + ":" + std::to_string(it->second) + ": " + key;
  };
  if (!config.socket_group.empty()) {
    std::vector<char> buf(16384);
    struct group gr, *found = nullptr;
    getgrnam_r(config.socket_group.c_str(), &gr, buf.data(), buf.size(), &found);
    if (found == nullptr) {
      return Status::Error(where("core.socket_group") + ": no group named '" + config.socket_group +
                           "' on this host; create it (groupadd) or leave the key empty");
    }
  }
  if (config.socket_path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Status::Error(where("core.socket") + ": path is too long for a UNIX socket (" +
                         std::to_string(config.socket_path.size()) + " bytes)");
  }
  return Status::Ok();
}

std::string StoreCopiesDir(const AgentConfig& config) {
  return config.state_dir + "/store-copies";
}

}  // namespace banger::core
