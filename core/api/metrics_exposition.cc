#include "core/api/metrics_exposition.h"

#include <cstdio>
#include <map>
#include <set>
#include <sstream>

namespace banger::core {
namespace {

// Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; anything else becomes '_'.
std::string MetricName(const std::string& s) {
  std::string out;
  for (char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    out.push_back(ok ? c : '_');
  }
  return out;
}

// Label values escape backslash, quote and newline.
std::string Label(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string Number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// HELP text: one line, backslash and newline escaped.
std::string Help(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string PrometheusText(const VmListing& vms, const PluginRegistry& registry,
                           const FigureCatalog& figures) {
  std::ostringstream out;
  // VM figures, grouped by figure so each family gets one HELP and TYPE.
  std::map<std::string, std::vector<std::string>> series;
  std::map<std::string, int> by_state;
  for (size_t i = 0; i < vms.records.size(); ++i) {
    const VmRecord& r = *vms.records[i];
    ++by_state[std::string(VmStateName(r.state))];
    const VmStats* figures = i < vms.stats.size() ? vms.stats[i].get() : nullptr;
    if (figures == nullptr) continue;
    std::string labels = "{vm=\"" + Label(r.name) + "\",id=\"" + r.id + "\"}";
    for (const auto& [name, value] : figures->values) {
      series[std::string(name)].push_back(labels + " " + Number(value));
    }
    if (figures->collected_at_ms > 0) {
      series[""].push_back(labels + " " + Number(figures->collected_at_ms / 1000.0));
    }
  }
  for (const auto& [name, lines] : series) {
    std::string family, help, type = "gauge";
    if (name.empty()) {
      family = "banger_vm_stats_collected_at_seconds";
      help = "When the VM's figures were last published (Unix time).";
    } else {
      family = "banger_vm_" + MetricName(name);
      auto info = figures.Find(name);
      if (info && info->counter) type = "counter";
      help = info && !info->help.empty() ? info->help
             : info                      ? "Published by capability " + info->capability + "."
                                         : "Published without a type (stats_publish): a gauge.";
    }
    out << "# HELP " << family << " " << Help(help) << "\n# TYPE " << family << " " << type << "\n";
    for (const auto& l : lines) out << family << l << "\n";
  }
  out << "# HELP banger_vms VMs by state.\n# TYPE banger_vms gauge\n";
  for (VmState s : kReportedVmStates) {
    const std::string name(VmStateName(s));
    out << "banger_vms{state=\"" << name << "\"} " << by_state[name] << "\n";
  }
  out << "banger_vms{state=\"corrupt\"} " << vms.corrupt.size() << "\n";

  out << "# HELP banger_capability_hook_calls_total Hook calls per capability.\n"
      << "# TYPE banger_capability_hook_calls_total counter\n";
  std::ostringstream failures, seconds, max_seconds;
  for (const auto& p : registry.all()) {
    auto snap = p->stats.Snapshot();
    for (const auto& [hook, c] : snap.hooks) {
      std::string labels = "{capability=\"" + Label(p->name) + "\",hook=\"" + hook + "\"}";
      out << "banger_capability_hook_calls_total" << labels << " " << c.calls << "\n";
      failures << "banger_capability_hook_failures_total" << labels << " " << c.failures << "\n";
      seconds << "banger_capability_hook_seconds_total" << labels << " " << Number(c.total_ns / 1e9)
              << "\n";
      max_seconds << "banger_capability_hook_max_seconds" << labels << " " << Number(c.max_ns / 1e9)
                  << "\n";
    }
  }
  out << "# HELP banger_capability_hook_failures_total Hook calls that failed, per capability.\n"
      << "# TYPE banger_capability_hook_failures_total counter\n"
      << failures.str();
  out << "# HELP banger_capability_hook_seconds_total Time spent in hooks, per capability.\n"
      << "# TYPE banger_capability_hook_seconds_total counter\n"
      << seconds.str();
  out << "# HELP banger_capability_hook_max_seconds The longest hook call, per capability.\n"
      << "# TYPE banger_capability_hook_max_seconds gauge\n"
      << max_seconds.str();
  out << "# HELP banger_capability_up 1 when an enabled capability runs, else 0.\n"
      << "# TYPE banger_capability_up gauge\n";
  for (const auto& p : registry.all()) {
    if (!p->enabled) continue;
    out << "banger_capability_up{capability=\"" << Label(p->name) << "\"} "
        << (p->state == PluginState::kOk ? 1 : 0) << "\n";
  }
  return out.str();
}

}  // namespace banger::core
