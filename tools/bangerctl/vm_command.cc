#include "tools/bangerctl/vm_command.h"

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/base/unix_http_client.h"
#include "tools/bangerctl/agent_client.h"
#include "tools/bangerctl/command_table.h"
#include "tools/bangerctl/table.h"
#include "tools/bangerctl/vm_listing.h"

namespace bangerctl {
namespace {

using nlohmann::json;

int Usage(const std::string& why) {
  std::cerr << "bangerctl: " << why << "\nusage:\n";
  for (const auto& c : Commands()) {
    if (std::string(c.name).rfind("vm", 0) == 0)
      std::cerr << "  " << c.name << " " << c.args << "\n";
  }
  std::cerr << "NAME is a VM's name, id, or a unique id prefix. Every command takes --json.\n";
  return 2;
}

}  // namespace

std::string VmUrl(const std::string& ref) {
  std::string out;
  for (unsigned char c : ref) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return "/v1/vms/" + out;
}

namespace {

// The guest IP, by convention the "guest_ip" handle of whichever capability
// gives the VM its network.
std::string GuestIp(const json& vm) {
  for (const auto& [cap, keys] : vm["handles"].items()) {
    if (keys.contains("guest_ip")) return keys["guest_ip"];
  }
  return "";
}

std::string Time(int64_t ms) {
  if (ms <= 0) return "-";
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Bytes(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace

void PrintStage(const json& e, std::ostream& out) {
  char line[256];
  std::snprintf(line, sizeof line, "  %-18s %8.1f ms  %s", e.value("stage", "").c_str(),
                e.value("ms", 0.0),
                e.value("error", "").empty() ? e.value("detail", "").c_str()
                                             : ("FAILED: " + e.value("error", "")).c_str());
  std::string s = line;
  while (!s.empty() && s.back() == ' ') s.pop_back();
  out << s << "\n" << std::flush;
}

namespace {

int Lifecycle(const GlobalOptions& g, const std::string& action, const std::string& ref) {
  AgentClient client(ResolveSocket(g.socket));
  if (g.json) {
    auto r = client.Call("POST", VmUrl(ref) + "/" + action);
    if (!r) return Fail(r.status().message());
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  std::string error;
  json vm;
  banger::core::Status s =
      client.Stream("POST", VmUrl(ref) + "/" + action + "?stream=1", "", [&](const json& e) {
        std::string kind = e.value("event", "");
        if (kind == "stage") PrintStage(e, std::cout);
        if (kind == "result") vm = e["vm"];
        if (kind == "error") error = e.value("error", "");
      });
  if (!s) return Fail(s.message());
  if (!error.empty()) return Fail(error);
  if (vm.is_null()) return Fail(action + " " + ref + ": the agent's reply ended early");
  std::string past = action == "start" ? "started" : action == "stop" ? "stopped" : "killed";
  std::cout << past << " " << vm.value("name", ref) << " (" << vm.value("short_id", "")
            << "), state " << vm.value("state", "") << "\n";
  return 0;
}

int Create(const GlobalOptions& g, const std::vector<std::string>& args) {
  if (args.empty() || args[0].empty() || args[0][0] == '-') return Usage("vm create: NAME first");
  json body;
  std::vector<std::string> rest;
  if (auto why = ParseCreateFlags(args, body, rest)) return Usage("vm create: " + *why);
  if (!rest.empty()) return Usage("vm create: unknown option " + rest.front());
  if (!body.contains("kernel") || !body.contains("rootfs")) {
    return Usage("vm create: --kernel and --rootfs are required");
  }
  auto r = AgentClient(ResolveSocket(g.socket)).Call("POST", "/v1/vms", body.dump());
  if (!r) return Fail(r.status().message());
  if (g.json) {
    std::cout << r->dump(2) << "\n";
  } else {
    std::cout << "created " << (*r)["name"].get<std::string>() << " ("
              << (*r)["short_id"].get<std::string>() << ")\n";
  }
  return 0;
}

int List(const GlobalOptions& g) {
  AgentClient agent(ResolveSocket(g.socket));
  if (g.json) {
    auto r = agent.Call("GET", "/v1/vms");
    if (!r) return Fail(r.status().message());
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  // The table's members only (a VM's whole record is ~1.4 KB of JSON, these
  // ~0.2), read without a document.
  auto body =
      agent.Fetch("GET", "/v1/vms?fields=name,short_id,state,uptime_s,spec,handles,last_error");
  if (!body) return Fail(body.status().message());
  auto r = ParseVmListing(*body);
  if (!r) return Fail(r.status().message());
  Table t({"NAME", "ID", "STATE", "IP", "UPTIME", "VCPUS", "MEMORY", "LAST ERROR"});
  for (auto& vm : r->vms) {
    std::string err = vm.last_error;
    if (err.size() > 48) err = err.substr(0, 45) + "...";
    t.AddRow({vm.name, vm.short_id, vm.state, vm.guest_ip,
              vm.state == "running" ? FormatUptime(vm.uptime_s) : "", std::to_string(vm.vcpus),
              std::to_string(vm.memory_mib) + " MiB", err});
  }
  for (const auto& [id, error] : r->corrupt) {
    t.AddRow({"?", id.substr(0, 8), "corrupt", "", "", "", "", ""});
  }
  std::cout << t.Render();
  for (const auto& [id, error] : r->corrupt) {
    std::cout << "corrupt record " << id << ": " << error << "\n";
  }
  for (const auto& o : r->orphans) std::cout << o.kind << " " << o.id << ": " << o.detail << "\n";
  return 0;
}

int Show(const GlobalOptions& g, const std::string& ref) {
  auto r = AgentClient(ResolveSocket(g.socket)).Call("GET", VmUrl(ref));
  if (!r) return Fail(r.status().message());
  const json& vm = *r;
  if (g.json) {
    std::cout << vm.dump(2) << "\n";
    return 0;
  }
  auto field = [](const std::string& label, const std::string& value) {
    std::string padded = label + ":";
    padded.resize(16, ' ');
    std::cout << padded << (value.empty() ? "-" : value) << "\n";
  };
  if (vm.value("state", "") == "corrupt") {
    std::string pids;
    for (const auto& p : vm["vmm_pids"])
      pids += (pids.empty() ? "" : ", ") + std::to_string(p.get<int>());
    field("id", vm["id"]);
    field("name", vm["name"]);
    field("state", "corrupt");
    field("why", vm["error"]);
    field("directory", vm["directory"].get<std::string>() +
                           (vm["directory_exists"].get<bool>() ? "" : " (gone)"));
    field("vmm", pids.empty() ? "none running" : "pid " + pids);
    field("to remove", vm["remedy"]);
    return 0;
  }
  field("name", vm["name"]);
  field("id", vm["id"]);
  field("state", vm["state"]);
  if (vm["state"] == "running") field("uptime", FormatUptime(vm["uptime_s"]));
  field("ip", GuestIp(vm));
  field("created", Time(vm["created_at_ms"]));
  field("last touched", Time(vm["last_touched_at_ms"]));
  if (!vm.value("last_stop_reason", "").empty()) {
    field("last stopped",
          Time(vm["stopped_at_ms"]) + " by " + vm["last_stop_reason"].get<std::string>());
  }
  field("last error", vm["last_error"]);
  const json& spec = vm["spec"];
  field("kernel", spec["kernel_image"]);
  field("rootfs", spec["rootfs"]);
  field("boot args", spec["boot_args"]);
  field("vcpus", std::to_string(spec["vcpus"].get<int>()));
  field("memory", std::to_string(spec["memory_mib"].get<int>()) + " MiB");
  field("work disk", spec["work_disk_bytes"].get<uint64_t>() ? Bytes(spec["work_disk_bytes"]) : "");
  const json& rt = vm["runtime"];
  field("vmm pid", rt["pid"].get<int64_t>() ? std::to_string(rt["pid"].get<int64_t>()) : "");
  field("vsock cid", rt["vsock_cid"].get<int>() ? std::to_string(rt["vsock_cid"].get<int>()) : "");
  field("api socket", rt["api_socket"]);
  field("log", rt["log_path"]);
  if (vm.contains("options") && !vm["options"].empty()) {
    std::cout << "options:\n";
    for (const auto& [k, v] : vm["options"].items()) {
      std::cout << "  " << k << " = " << v.get<std::string>() << "\n";
    }
  }
  std::cout << "handles:\n";
  if (vm["handles"].empty()) std::cout << "  (none)\n";
  for (const auto& [cap, keys] : vm["handles"].items()) {
    for (const auto& [k, v] : keys.items()) {
      std::cout << "  " << cap << "." << k << " = " << v.get<std::string>() << "\n";
    }
  }
  const json& stats = vm["stats"];
  if (!stats["values"].empty()) {
    std::cout << "stats (" << Time(stats["collected_at_ms"]) << "):\n";
    for (const auto& [k, v] : stats["values"].items()) std::cout << "  " << k << " = " << v << "\n";
  }
  return 0;
}

// `vm stats NAME`: the figures, one a row, in the units their names say.
std::string StatsTable(const json& reply) {
  Table t({"FIGURE", "VALUE"});
  for (const auto& [name, value] : reply.items()) {
    if (!value.is_number()) continue;
    double v = value.get<double>();
    char buf[64];
    std::string shown;
    if (name.ends_with("_bytes") || name.ends_with("_bytes_total")) {
      shown = Bytes(static_cast<uint64_t>(v));
    } else if (name.ends_with("_seconds_total") || name.ends_with("_seconds")) {
      std::snprintf(buf, sizeof buf, "%.2f s", v);
      shown = buf;
    } else if (name.ends_with("_ratio")) {
      std::snprintf(buf, sizeof buf, "%.1f%%", 100 * v);
      shown = buf;
    } else {
      std::snprintf(buf, sizeof buf, "%.15g", v);
      shown = buf;
    }
    t.AddRow({name, shown});
  }
  std::string out = t.Render();
  if (reply.contains("firecracker") && reply["firecracker"].is_object()) {
    out += "Firecracker's own metrics: " + std::to_string(reply["firecracker"].size()) +
           " (--json shows them)\n";
  }
  return out;
}

int Verb(const GlobalOptions& g, const std::string& verb, const std::vector<std::string>& args) {
  if (args.empty()) return Usage("vm " + verb + ": NAME is required");
  json body = json::object();
  for (size_t i = 1; i < args.size(); ++i) {
    auto eq = args[i].find('=');
    if (eq == std::string::npos || eq == 0) {
      return Usage("vm " + verb + ": arguments are key=value, not '" + args[i] + "'");
    }
    body[args[i].substr(0, eq)] = args[i].substr(eq + 1);
  }
  auto r = AgentClient(ResolveSocket(g.socket))
               .Call("POST", VmUrl(args[0]) + "/" + verb, body.empty() ? "" : body.dump());
  if (!r) return Fail(r.status().message());
  if (verb == "stats" && !g.json && r->is_object()) {
    std::cout << StatsTable(*r);
    return 0;
  }
  std::cout << r->dump(2) << "\n";
  return 0;
}

}  // namespace

std::optional<std::string> ParseCreateFlags(const std::vector<std::string>& args, json& body,
                                            std::vector<std::string>& rest) {
  body = json{{"name", args[0]}};
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool takes_value = a == "--kernel" || a == "--rootfs" || a == "--boot-args" || a == "--vcpus" ||
                       a == "--memory" || a == "--work-disk" || a == "--opt";
    if (!takes_value) {
      rest.push_back(a);
      continue;
    }
    if (i + 1 >= args.size()) return a + " needs a value";
    const std::string& v = args[++i];
    if (a == "--kernel" || a == "--rootfs") {
      // Paths are the caller's: make them absolute before they reach the agent.
      body[a.substr(2)] = std::filesystem::absolute(v).lexically_normal().string();
    } else if (a == "--boot-args") {
      body["boot_args"] = v;
    } else if (a == "--vcpus" || a == "--memory") {
      char* end = nullptr;
      unsigned long n = std::strtoul(v.c_str(), &end, 10);
      if (end == v.c_str() || *end) return a + " takes a number";
      body[a == "--vcpus" ? "vcpus" : "memory_mib"] = n;
    } else if (a == "--work-disk") {
      auto size = ParseSize(v);
      if (!size) return "--work-disk takes a size like 512M or 4G";
      body["work_disk_bytes"] = *size;
    } else {
      // --opt: told to the capability that owns the prefix, which checks it.
      auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0) {
        return "--opt takes CAPABILITY.KEY=VALUE, e.g. portfwd.tcp=8080:80";
      }
      body["options"][v.substr(0, eq)] = v.substr(eq + 1);
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> ParseSize(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  if (end == text.c_str()) return std::nullopt;
  std::string unit(end);
  uint64_t mult = unit == "" || unit == "B"      ? 1
                  : unit == "K" || unit == "KiB" ? 1ull << 10
                  : unit == "M" || unit == "MiB" ? 1ull << 20
                  : unit == "G" || unit == "GiB" ? 1ull << 30
                  : unit == "T" || unit == "TiB" ? 1ull << 40
                                                 : 0;
  if (mult == 0) return std::nullopt;
  return n * mult;
}

std::string FormatUptime(int64_t s) {
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
  if (s < 86400) {
    return std::to_string(s / 3600) + "h" +
           (s % 3600 / 60 ? std::to_string(s % 3600 / 60) + "m" : "");
  }
  return std::to_string(s / 86400) + "d" +
         (s % 86400 / 3600 ? std::to_string(s % 86400 / 3600) + "h" : "");
}

int RunVmCommand(const GlobalOptions& g, const std::vector<std::string>& args) {
  if (args.empty()) return Usage("vm: which command?");
  const std::string& cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  bool force = false;
  std::vector<std::string> positional;
  for (const auto& a : rest) {
    if (a == "--force" || a == "-f") {
      force = true;
    } else {
      positional.push_back(a);
    }
  }
  if (cmd == "create") return Create(g, rest);
  if (cmd == "run") return RunVmRun(g, rest);
  if (cmd == "logs" || cmd == "log") return RunVmLogs(g, rest);
  if (cmd == "ls" || cmd == "list") return List(g);
  if (positional.empty()) return Usage("vm " + cmd + ": NAME is required");
  const std::string& ref = positional[0];
  if (cmd == "start" || cmd == "stop" || cmd == "kill") return Lifecycle(g, cmd, ref);
  if (cmd == "show") return Show(g, ref);
  if (cmd == "touch") {
    auto r = AgentClient(ResolveSocket(g.socket)).Call("POST", VmUrl(ref) + "/touch");
    if (!r) return Fail(r.status().message());
    if (g.json) std::cout << r->dump(2) << "\n";
    return 0;
  }
  if (cmd == "rm" || cmd == "remove") {
    auto r =
        AgentClient(ResolveSocket(g.socket)).Call("DELETE", VmUrl(ref) + (force ? "?force=1" : ""));
    if (!r) return Fail(r.status().message());
    if (g.json) {
      std::cout << r->dump(2) << "\n";
    } else {
      std::cout << "removed " << ref << "\n";
    }
    return 0;
  }
  // Anything else is a capability's verb; the agent says if nobody knows it.
  return Verb(g, cmd, positional);
}

int RunMetricsCommand(const GlobalOptions& g, const std::vector<std::string>& args) {
  if (!args.empty()) return Fail("metrics takes no arguments", 2);
  auto r = banger::core::UnixHttpCall(ResolveSocket(g.socket), "GET", "/v1/metrics", "",
                                      std::chrono::seconds(30));
  if (!r.ok()) return Fail("cannot reach bangerd: " + r.error);
  if (r.reply.status != 200) return Fail("bangerd answered HTTP " + std::to_string(r.reply.status));
  std::cout << r.reply.body;
  return 0;
}

int RunOperationsCommand(const GlobalOptions& g, const std::vector<std::string>& args) {
  if (!args.empty()) return Fail("ops takes no arguments", 2);
  auto r = AgentClient(ResolveSocket(g.socket)).Call("GET", "/v1/operations");
  if (!r) return Fail(r.status().message());
  if (g.json) {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  Table t({"ID", "OP", "VM", "STARTED", "MS", "RESULT", "STAGES"});
  for (const auto& op : (*r)["operations"]) {
    std::string stages;
    for (const auto& s : op["stages"]) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s:%.1f", s["stage"].get<std::string>().c_str(),
                    s["ms"].get<double>());
      stages += (stages.empty() ? "" : " ") + std::string(buf);
    }
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.1f", op["ms"].get<double>());
    std::string result = !op["done"].get<bool>()                  ? "running"
                         : op["error"].get<std::string>().empty() ? "ok"
                                                                  : "error";
    t.AddRow({op["id"], op["op"], op["vm"], Time(op["started_at_ms"]), ms, result, stages});
  }
  std::cout << t.Render();
  return 0;
}

}  // namespace bangerctl
