#include "core/agent/agent_config.h"

#include <grp.h>
#include <sys/un.h>

#include <algorithm>
#include <boost/program_options/options_description.hpp>
#include <boost/program_options/parsers.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <set>
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

bool ValidSectionName(const std::string& s) {
  if (s.empty() || s.size() > 32) return false;
  if (!std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
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

Result<AgentConfig> ParseAgentConfig(const std::string& text, const std::string& source) {
  po::parsed_options parsed(nullptr);
  try {
    std::istringstream in(text);
    po::options_description none;
    parsed = po::parse_config_file(in, none, /*allow_unregistered=*/true);
  } catch (const po::error& e) {
    // e.g. "the options configuration file contains an invalid line 'xyz'"
    return Status::Error(source + ": " + e.what());
  }

  auto lines = IndexLines(text);
  std::map<std::string, int> seen_count;
  AgentConfig config;
  config.source = source;
  config.plugin_dirs.clear();
  std::set<std::string> core_seen;

  for (const auto& opt : parsed.options) {
    const std::string& full = opt.string_key;
    std::string value = opt.value.empty() ? "" : Trim(opt.value.front());
    int occurrence = seen_count[full]++;
    const auto& at = lines[full];
    int line = occurrence < static_cast<int>(at.size()) ? at[occurrence] : 0;
    auto where = source + ":" + std::to_string(line) + ": " + full;
    auto fail = [&](const std::string& why) { return Status::Error(where + ": " + why); };

    auto dot = full.find('.');
    if (dot == std::string::npos) {
      return fail("key outside a section; put it under [core], [plugins] or a capability's [name]");
    }
    std::string section = full.substr(0, dot), key = full.substr(dot + 1);
    if (occurrence > 0 && (section == "core" || section == "plugins")) {
      return fail("set twice (first on line " + std::to_string(at.front()) + "); keep one");
    }

    config.lines[full] = line;
    if (section == "core") {
      if (key == "state_dir" || key == "socket") {
        if (value.empty()) return fail("must not be empty");
        if (key == "socket" && value.size() >= sizeof(sockaddr_un{}.sun_path)) {
          return fail("path is " + std::to_string(value.size()) +
                      " bytes; a UNIX socket path must be shorter than " +
                      std::to_string(sizeof(sockaddr_un{}.sun_path)));
        }
        (key == "state_dir" ? config.state_dir : config.socket_path) = value;
      } else if (key == "socket_group") {
        config.socket_group = value;
      } else if (key == "plugin_dirs") {
        config.plugin_dirs = SplitList(value);
        if (config.plugin_dirs.empty()) return fail("needs at least one directory");
      } else if (key == "log_level") {
        auto level = ParseLogLevel(value);
        if (!level)
          return fail("'" + value + "' is not a log level; use debug, info, warn or error");
        config.log_level = *level;
      } else if (key == "store_map_size_mib") {
        uint64_t mib = 0;
        try {
          size_t used = 0;
          mib = std::stoull(value, &used);
          if (used != value.size()) mib = 0;
        } catch (...) {
          mib = 0;
        }
        if (mib == 0 || mib > (1u << 20)) {
          return fail("'" + value + "' is not a size in MiB between 1 and 1048576");
        }
        config.store_map_size_mib = mib;
      } else if (key == "metrics_listen") {
        if (!value.empty() && value.rfind("127.", 0) != 0 && value.rfind("[::1]:", 0) != 0) {
          return fail("'" + value +
                      "' is not a loopback address:port (127.0.0.1:9464 or [::1]:9464); the "
                      "metrics listener is for this host only");
        }
        config.metrics_listen = value;
      } else if (key == "vmm_binary") {
        if (value.empty()) return fail("must not be empty (firecracker, or a path)");
        config.vmm_binary = value;
      } else if (key == "vmm_ready_timeout" || key == "vmm_stop_timeout" ||
                 key == "vmm_api_timeout" || key == "reconcile_interval") {
        auto d = ParseDuration(value);
        if (!d || d->count() == 0) {
          return fail("'" + value + "' is not a duration; write it like 500ms, 10s or 2m");
        }
        (key == "vmm_ready_timeout"    ? config.vmm_ready_timeout
         : key == "vmm_stop_timeout"   ? config.vmm_stop_timeout
         : key == "reconcile_interval" ? config.reconcile_interval
                                       : config.vmm_api_timeout) = *d;
      } else if (key == "allow_plugin_symlinks") {
        auto b = ParseBool(value);
        if (!b) return fail("'" + value + "' is not a boolean; use true or false");
        config.allow_plugin_symlinks = *b;
      } else {
        return fail(
            "unknown key; [core] takes state_dir, socket, socket_group, plugin_dirs, log_level, "
            "allow_plugin_symlinks, store_map_size_mib, vmm_binary, vmm_ready_timeout, "
            "vmm_stop_timeout, vmm_api_timeout, reconcile_interval, metrics_listen");
      }
    } else if (section == "plugins") {
      if (key != "enable" && key != "required") {
        return fail("unknown key; [plugins] takes enable and required");
      }
      auto names = SplitList(value);
      for (const auto& n : names) {
        if (!ValidSectionName(n)) return fail("'" + n + "' is not a capability name");
      }
      (key == "enable" ? config.enabled : config.required) = names;
    } else {
      if (!ValidSectionName(section)) {
        return fail("[" + section + "] is not a capability name ([a-z0-9][a-z0-9_-]*)");
      }
      auto& entries = config.sections[section];
      for (const auto& e : entries) {
        if (e.key == key) {
          return fail("set twice (first on line " + std::to_string(e.line) + "); keep one");
        }
      }
      entries.push_back({key, value, line});
    }
  }
  if (config.plugin_dirs.empty()) config.plugin_dirs.push_back(DefaultPluginDir());
  // A required capability is enabled whether or not `enable` lists it.
  for (const auto& r : config.required) {
    if (std::find(config.enabled.begin(), config.enabled.end(), r) == config.enabled.end()) {
      config.enabled.push_back(r);
    }
  }
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

}  // namespace banger::core
