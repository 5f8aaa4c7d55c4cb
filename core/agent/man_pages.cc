#include "core/agent/man_pages.h"

#include <unistd.h>

#include <sstream>

#include "core/base/roff.h"

#include "core/base/version.h"
#include "core/plugin_host/plugin_registry.h"

namespace banger::core {
namespace {

std::string Header(const char* name, int section) {
  return ".TH " + std::string(name) + " " + std::to_string(section) + " \"\" \"banger " +
         kBangerVersion + "\" \"banger\"\n";
}

void Key(std::ostringstream& out, const std::string& name, const std::string& default_value,
         const std::string& help) {
  out << ".TP\n.B " << RoffText(name) << " = " << RoffText(default_value) << "\n"
      << RoffText(help) << "\n";
}

}  // namespace

std::string BangerdManPage(const boost::program_options::options_description& flags) {
  std::ostringstream out;
  out << Header("BANGERD", 8) << ".SH NAME\nbangerd \\- the banger host agent\n"
      << ".SH SYNOPSIS\n.B bangerd\n[\\fIOPTIONS\\fR]\n"
      << ".SH DESCRIPTION\nbangerd runs Firecracker microVMs on one Linux host. It keeps VM "
         "records, runs the VM lifecycle and serves a control socket (HTTP/1.1 and JSON) that "
         "\\fBbangerctl\\fR(8) uses. Everything it does to the host for a VM (TAP devices, NAT "
         "and port forwarding rules, stats, guest health, reaping idle VMs) is a capability: a "
         "shared object loaded through a stable C ABI and enabled in \\fBbangerd.conf\\fR(5).\n"
      << ".PP\nUnder systemd (Type=notify) it says READY=1 once its capabilities are "
         "initialised, reconcile has run and the socket serves, STOPPING=1 on shutdown, and "
         "WATCHDOG=1 while it answers. SIGTERM or SIGINT stop it cleanly; VMs keep running and "
         "are adopted again at the next start.\n"
      << ".SH OPTIONS\n";
  for (const auto& option : flags.options()) {
    out << ".TP\n.B " << RoffText(option->format_name()) << "\n"
        << RoffText(option->description()) << "\n";
  }
  out << ".SH FILES\n.TP\n.I /etc/banger/bangerd.conf\nthe config (\\fBbangerd.conf\\fR(5))\n"
      << ".TP\n.I /var/lib/banger\nstate: the VM records, each VM's directory and console log\n"
      << ".TP\n.I /run/banger/bangerd.sock\nthe control socket\n"
      << ".SH EXIT STATUS\n0 stopped cleanly, 1 the agent cannot run (the reason is printed), "
         "2 usage.\n"
      << ".SH SEE ALSO\n\\fBbangerctl\\fR(8), \\fBbangerd.conf\\fR(5), "
         "\\fBsystemd.service\\fR(5)\n";
  return out.str();
}

std::string BangerdConfManPage(const AgentConfig& config) {
  std::ostringstream out;
  out << Header("BANGERD.CONF", 5) << ".SH NAME\nbangerd.conf \\- the banger agent's config\n"
      << ".SH DESCRIPTION\nAn INI file: \\fB[core]\\fR for the agent, \\fB[plugins]\\fR for "
         "which capabilities run, and one section per capability for its own keys. A key the "
         "section does not take is an error naming the file, the line and the keys it takes. "
         "Durations are written 500ms, 10s, 2m, 1h; sizes 64K, 8M, 1G.\n"
      << ".SH [core]\n";
  for (const auto& k : CoreConfigKeys()) Key(out, k.key, k.default_value, k.description);
  out << ".SH [plugins]\n";
  Key(out, "enable", "",
      "Capabilities to run, comma-separated; ordered by their dependencies. "
      "One that cannot run is reported and the agent runs without it.");
  Key(out, "required", "",
      "Capabilities the agent must not run without: it exits with the "
      "reason when one cannot load or initialise.");
  // Every capability found in the plugin dirs, as it describes itself.
  auto registry = PluginRegistry::Discover(config, PluginFilePolicy{true, ::geteuid()});
  for (const auto& p : registry->all()) {
    if (!p->library) continue;
    const CapabilityLibrary& lib = *p->library;
    out << ".SH [" << RoffText(lib.name) << "]\n" << RoffText(lib.description) << ".";
    if (!lib.dependencies.empty()) {
      std::string deps;
      for (const auto& d : lib.dependencies) deps += (deps.empty() ? "" : ", ") + d;
      out << " Requires " << RoffText(deps) << ".";
    }
    out << " Every capability also takes \\fBtick_interval\\fR.\n";
    for (const auto& k : lib.config_keys) Key(out, k.key, k.default_value, k.description);
  }
  out << ".SH FILES\n.I /etc/banger/bangerd.conf\n"
      << ".SH SEE ALSO\n\\fBbangerd\\fR(8), \\fBbangerctl\\fR(8)\n";
  return out.str();
}

}  // namespace banger::core
