#include "tools/bangerctl/capabilities_command.h"

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tools/bangerctl/agent_client.h"
#include "tools/bangerctl/offline_loader.h"
#include "tools/bangerctl/table.h"

namespace bangerctl {
namespace {

using nlohmann::json;

std::string Join(const json& list, const char* sep = ",") {
  std::string out;
  for (const auto& v : list) out += (out.empty() ? "" : sep) + v.get<std::string>();
  return out;
}

std::string Ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", ms);
  return buf;
}

}  // namespace

std::string RenderCapabilityTable(const std::string& report_json, bool no_trunc) {
  json report = json::parse(report_json);
  Table table({"NAME", "VERSION", "ABI", "STATUS", "REQUIRES", "HOOKS", "PATH"});
  bool cut = false;
  for (const auto& c : report["capabilities"]) {
    std::string status = c["status_text"];
    if (!no_trunc && status.size() > kStatusWidth) {
      status = status.substr(0, kStatusWidth - 3) + "...";
      cut = true;
    }
    table.AddRow(
        {c["name"], c["version"], c["abi"], status, Join(c["requires"]), c["hooks"], c["path"]});
  }
  std::string out = table.Render();
  if (report["capabilities"].empty()) {
    out += "(no capabilities: none found in the plugin dirs and none enabled)\n";
  }
  if (cut) out += "(a status was cut; bangerctl caps NAME or --no-trunc shows it whole)\n";
  for (const auto& w : report["warnings"]) out += "warning: " + w.get<std::string>() + "\n";
  if (report.value("offline", false)) {
    out +=
        "(offline: files loaded and checked; init was not run, so a capability shown\n"
        " \"loaded\" may still skip or fail when the agent starts it)\n";
  }
  return out;
}

std::string RenderCapabilityDetail(const std::string& capability_json) {
  json c = json::parse(capability_json);
  std::ostringstream out;
  auto field = [&](const char* label, const std::string& value) {
    std::string padded = std::string(label) + ":";
    padded.resize(14, ' ');
    out << padded << (value.empty() ? "-" : value) << "\n";
  };
  field("name", c["name"]);
  field("version", c["version"]);
  field("abi", c["abi"]);
  field("status", c["status_text"]);
  field("enabled",
        c["enabled"].get<bool>() ? (c["required"].get<bool>() ? "yes (required)" : "yes") : "no");
  field("path", c["path"]);
  field("requires", Join(c["requires"], ", "));
  field("hooks", c["hooks"]);
  field("description", c["description"]);
  std::string verbs;
  for (const auto& v : c["verbs"]) {
    verbs += (verbs.empty() ? "" : ", ") + v["verb"].get<std::string>();
  }
  field("verbs", verbs);
  std::string commands;
  for (const auto& v : c.value("commands", json::array())) {
    commands += (commands.empty() ? "" : ", ") + v["command"].get<std::string>();
  }
  if (!commands.empty()) field("commands", commands);

  out << "\nconfig [" << c["name"].get<std::string>() << "]:\n";
  if (c["config"].empty()) {
    out << "  (no keys)\n";
  } else {
    Table keys({"  KEY", "VALUE", "DEFAULT", "DESCRIPTION"});
    for (const auto& k : c["config"]) {
      keys.AddRow({"  " + k["key"].get<std::string>(),
                   k["value"].get<std::string>() + (k["set"].get<bool>() ? "" : " (default)"),
                   k["default"], k["description"]});
    }
    out << keys.Render();
  }

  out << "\nhook counters:\n";
  const auto& hooks = c["stats"]["hooks"];
  if (hooks.empty()) {
    out << "  (no hook called yet)\n";
  } else {
    Table t({"  HOOK", "CALLS", "FAILURES", "AVG_MS", "MAX_MS", "TOTAL_MS"});
    for (const auto& [name, h] : hooks.items()) {
      t.AddRow({"  " + name, std::to_string(h["calls"].get<uint64_t>()),
                std::to_string(h["failures"].get<uint64_t>()), Ms(h["avg_ms"]), Ms(h["max_ms"]),
                Ms(h["total_ms"])});
    }
    out << t.Render();
  }
  std::string last = c["stats"]["last_error"];
  out << "\nlast error:   " << (last.empty() ? "(none)" : last) << "\n";
  return out.str();
}

int RunCapabilitiesCommand(const GlobalOptions& global, const std::vector<std::string>& args) {
  std::string name, config_path, command;
  std::vector<std::string> plugin_dirs;
  json command_args = json::object();
  bool offline = false, no_trunc = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--offline") {
      offline = true;
    } else if (a == "--no-trunc") {
      no_trunc = true;
    } else if (a == "--plugin-dir" && i + 1 < args.size()) {
      plugin_dirs.push_back(args[++i]);
    } else if (a == "--config" && i + 1 < args.size()) {
      config_path = args[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (!a.empty() && a[0] == '-') {
      return Fail("caps: unknown option " + a + " (see bangerctl --help)", 2);
    } else if (name.empty()) {
      name = a;
    } else if (command.empty()) {
      command = a;  // caps NAME COMMAND [key=value ...]
    } else if (auto eq = a.find('='); eq != std::string::npos && eq > 0) {
      command_args[a.substr(0, eq)] = a.substr(eq + 1);
    } else {
      return Fail("caps " + name + " " + command + ": arguments are key=value, not '" + a + "'", 2);
    }
  }
  if (!command.empty()) {
    if (offline) return Fail("caps: a command needs the running agent, not --offline", 2);
    auto r = AgentClient(ResolveSocket(global.socket))
                 .Call("POST", "/v1/capabilities/" + name + "/" + command,
                       command_args.empty() ? "" : command_args.dump());
    if (!r) return Fail(r.status().message());
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  if (offline != !config_path.empty()) {
    return Fail("caps: --offline and --config F go together", 2);
  }
  if (!plugin_dirs.empty() && !offline) {
    return Fail("caps: --plugin-dir goes with --offline (the agent has its own)", 2);
  }

  std::string report;
  if (offline) {
    auto r = LoadOfflineReport(config_path, plugin_dirs);
    if (!r) return Fail(r.status().message());
    report = *r;
  } else {
    AgentClient client(ResolveSocket(global.socket));
    auto r = client.Call("GET", name.empty() ? "/v1/capabilities" : "/v1/capabilities/" + name);
    if (!r) return Fail(r.status().message());
    report = r->dump(2) + "\n";
  }

  if (offline && !name.empty()) {
    // Offline: pick the one capability out of the full report.
    json all = json::parse(report);
    bool found = false;
    for (const auto& c : all["capabilities"]) {
      if (c["name"] == name) {
        report = c.dump(2) + "\n";
        found = true;
        break;
      }
    }
    if (!found) return Fail("no capability named '" + name + "' in that config's plugin dirs");
  }
  // Offline, a check: non-zero when an enabled capability would not run.
  int status = 0;
  if (offline) {
    json all = json::parse(report, nullptr, false);
    const json& list = all.contains("capabilities") ? all["capabilities"] : json::array({all});
    for (const auto& c : list) {
      if (c.value("enabled", false) && c.value("status", "") == "error") status = 1;
    }
  }
  if (global.json) {
    std::cout << report;
  } else {
    std::cout << (name.empty() ? RenderCapabilityTable(report, no_trunc)
                               : RenderCapabilityDetail(report));
  }
  if (status != 0 && !global.json) {
    std::cerr << "bangerctl: an enabled capability would not run (see above)\n";
  }
  return status;
}

}  // namespace bangerctl
