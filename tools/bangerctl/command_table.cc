#include "tools/bangerctl/command_table.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "core/base/roff.h"

namespace bangerctl {
namespace {

constexpr CommandInfo kCommands[] = {
    {"caps", "[--no-trunc]", "list the capabilities the agent loaded, and why one is not running"},
    {"caps", "NAME", "one capability: description, config keys, hook counters, last error"},
    {"caps", "NAME COMMAND [key=value ...]", "a capability-wide command, e.g. caps tap pool"},
    {"caps", "--config FILE --offline [--plugin-dir DIR]",
     "what a config would load, without an agent; exit 1 when an enabled capability would not run"},
    {"plugin check", "FILE.so [--plugin-dir DIR]",
     "check a capability file offline, one line per check; exit 1 when it would not load"},
    {"vm create",
     "NAME --kernel K --rootfs R [--boot-args A] [--vcpus N] [--memory MIB] [--work-disk SIZE] "
     "[--opt CAPABILITY.KEY=VALUE ...]",
     "create a VM (options go to their capability, e.g. --opt portfwd.tcp=8080:80)"},
    {"vm run", "NAME [create options] [--rm]",
     "create (with a spec) and start, stages on stderr, the console on stdout until the VM stops; "
     "SIGINT/SIGTERM stop it (exit 0); a VM that stops by itself exits 1 with the reason"},
    {"vm start", "NAME", "start a VM, showing each stage as it completes"},
    {"vm stop", "NAME", "stop a VM gracefully (Ctrl+Alt+Del, then SIGTERM, then SIGKILL)"},
    {"vm kill", "NAME", "stop a VM at once (SIGKILL)"},
    {"vm rm", "NAME [--force]", "remove a VM (--force stops a running one first)"},
    {"vm ls", "", "list VMs"},
    {"vm show", "NAME", "one VM: spec, state, runtime, options, handles, figures"},
    {"vm logs", "NAME [-f] [--tail N] [--boot]",
     "the console log (-f follows until the VM stops; --boot: from the last start)"},
    {"vm stats", "NAME", "a fresh sample of the VM's figures, as a table"},
    {"vm touch", "NAME", "mark a VM as used (stale-reaper counts from here)"},
    {"vm", "VERB NAME [key=value ...]", "a capability's verb, e.g. vm health NAME"},
    {"host", "",
     "what a scheduler asks: VMs by state, vCPUs and memory committed, pools, draining"},
    {"drain", "", "refuse creates and starts, stop every running VM gracefully, report"},
    {"undrain", "", "take creates and starts again"},
    {"ops", "", "recent operations and their stages"},
    {"metrics", "", "every VM's figures and the agent's, Prometheus text format"},
    {"completion", "bash", "print the bash completion script"},
    {"version", "", "print bangerctl's version"},
};

constexpr OptionInfo kFlags[] = {
    {"--socket PATH",
     "the agent's control socket (else $BANGER_SOCKET, else /run/banger/bangerd.sock)"},
    {"--json", "print JSON instead of text (every command)"},
    {"-h, --help", "show the help"},
};

}  // namespace

std::span<const CommandInfo> Commands() {
  return kCommands;
}
std::string HelpText() {
  std::ostringstream out;
  out << "usage: bangerctl [--socket PATH] [--json] COMMAND [ARGS]\n\ncommands:\n";
  for (const auto& c : kCommands) {
    std::string head = "  " + std::string(c.name) + (*c.args ? " " + std::string(c.args) : "");
    out << head << "\n      " << c.summary << "\n";
  }
  out << "\noptions:\n";
  for (const auto& f : kFlags) {
    std::string head = "  " + std::string(f.flag);
    head.resize(std::max<size_t>(head.size() + 2, 18), ' ');
    out << head << f.summary << "\n";
  }
  out << "\nExit codes: 0 ok, 1 failure, 2 usage.\n";
  return out.str();
}

std::string ManPage(const std::string& version) {
  std::ostringstream out;
  out << ".TH BANGERCTL 8 \"\" \"banger " << version << "\" \"banger\"\n"
      << ".SH NAME\nbangerctl \\- the banger admin tool\n"
      << ".SH SYNOPSIS\n.B bangerctl\n[\\fB\\-\\-socket\\fR \\fIPATH\\fR] [\\fB\\-\\-json\\fR] "
         "\\fICOMMAND\\fR [\\fIARGS\\fR]\n"
      << ".SH DESCRIPTION\nbangerctl talks to \\fBbangerd\\fR(8) over its control socket: it "
         "creates, runs and inspects Firecracker microVMs, lists the capabilities the agent "
         "loaded, and asks the host what a scheduler needs before placing work.\n"
      << ".SH COMMANDS\n";
  for (const auto& c : kCommands) {
    out << ".TP\n.B " << banger::core::RoffText(c.name)
        << (*c.args ? " " + banger::core::RoffText(c.args) : "") << "\n"
        << banger::core::RoffText(c.summary) << "\n";
  }
  out << ".SH OPTIONS\n";
  for (const auto& f : kFlags)
    out << ".TP\n.B " << banger::core::RoffText(f.flag) << "\n"
        << banger::core::RoffText(f.summary) << "\n";
  out << ".SH EXIT STATUS\n0 ok, 1 failure, 2 usage.\n"
      << ".SH ENVIRONMENT\n.TP\n.B BANGER_SOCKET\nthe control socket, when \\-\\-socket is not "
         "given.\n"
      << ".SH SEE ALSO\n\\fBbangerd\\fR(8), \\fBbangerd.conf\\fR(5)\n";
  return out.str();
}

std::string BashCompletion() {
  // First words, and the words after each ("vm" -> create, run, ...).
  std::vector<std::string> first;
  std::map<std::string, std::set<std::string>> second;
  for (const auto& c : kCommands) {
    std::string name = c.name;
    auto space = name.find(' ');
    std::string head = name.substr(0, space);
    if (std::find(first.begin(), first.end(), head) == first.end()) first.push_back(head);
    if (space != std::string::npos) second[head].insert(name.substr(space + 1));
  }
  std::ostringstream out;
  out << "# bash completion for bangerctl (generated by `bangerctl completion bash`)\n"
      << "_bangerctl() {\n"
      << "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" i words=()\n"
      << "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      << "    case \"${COMP_WORDS[i]}\" in\n"
      << "      --socket) ((i++)) ;;\n"
      << "      -*) ;;\n"
      << "      *) words+=(\"${COMP_WORDS[i]}\") ;;\n"
      << "    esac\n"
      << "  done\n"
      << "  if [[ \"$cur\" == -* ]]; then\n"
      << "    COMPREPLY=($(compgen -W \"--socket --json --help\" -- \"$cur\"))\n"
      << "    return\n"
      << "  fi\n"
      << "  case \"${#words[@]}\" in\n"
      << "    0) COMPREPLY=($(compgen -W \"";
  for (size_t i = 0; i < first.size(); ++i) out << (i ? " " : "") << first[i];
  out << "\" -- \"$cur\")) ;;\n"
      << "    1)\n"
      << "      case \"${words[0]}\" in\n";
  for (const auto& [head, rest] : second) {
    out << "        " << head << ") COMPREPLY=($(compgen -W \"";
    bool sep = false;
    for (const auto& r : rest) {
      out << (sep ? " " : "") << r;
      sep = true;
    }
    out << "\" -- \"$cur\")) ;;\n";
  }
  out << "      esac ;;\n"
      << "    2)\n"
      << "      # A VM's name: the agent's list, when it answers.\n"
      << "      if [[ \"${words[0]}\" == vm && \"${words[1]}\" != create ]]; then\n"
      << "        COMPREPLY=($(compgen -W \"$(bangerctl vm ls 2>/dev/null | "
         "awk 'NR > 1 && $1 != \"?\" {print $1}')\" -- \"$cur\"))\n"
      << "      fi ;;\n"
      << "  esac\n"
      << "}\n"
      << "complete -F _bangerctl bangerctl\n";
  return out.str();
}

}  // namespace bangerctl
