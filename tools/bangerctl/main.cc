// bangerctl: the banger admin tool. Exit codes: 0 ok, 1 failure, 2 usage.
#include <iostream>
#include <string>
#include <vector>

#include "banger/capability.h"
#include "core/base/version.h"
#include "tools/bangerctl/capabilities_command.h"
#include "tools/bangerctl/plugin_check.h"
#include "tools/bangerctl/vm_command.h"

namespace {

constexpr const char* kUsage = R"(usage: bangerctl [--socket PATH] [--json] COMMAND [ARGS]

commands:
  capabilities, caps            list the capabilities the agent loaded (--no-trunc: whole status)
  caps NAME                     show one: description, config keys, hook counters, last error
  caps NAME COMMAND [k=v ...]   a capability-wide command, e.g. caps tap pool
  plugin check FILE.so [--plugin-dir D]  check a capability file offline, one line per check
  caps --config F --offline [--plugin-dir D]  what config F would load, without an agent;
                                exit 1 when an enabled capability would not run
  vm create NAME --kernel K --rootfs R [--boot-args A] [--vcpus N] [--memory MIB]
                 [--work-disk SIZE] [--opt CAPABILITY.KEY=VALUE ...]
  vm start|stop|kill NAME       stages are shown as they complete
  vm rm NAME [--force]          --force stops a running VM first
  vm ls | vm show NAME | vm touch NAME
  vm VERB NAME [key=value ...]  a capability's verb (e.g. health, stats)
  ops                           recent operations and their stages
  metrics                       every VM's figures and the agent's, Prometheus text format
  version                       print bangerctl's version

options:
  --socket PATH   the agent's control socket (else $BANGER_SOCKET, else /run/banger/bangerd.sock)
  --json          print JSON instead of text
  -h, --help      show this help
)";

}  // namespace

int main(int argc, char** argv) {
  bangerctl::GlobalOptions global;
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--socket") {
      if (i + 1 >= argc) {
        std::cerr << "bangerctl: --socket needs a path\n";
        return 2;
      }
      global.socket = argv[++i];
    } else if (a.rfind("--socket=", 0) == 0) {
      global.socket = a.substr(9);
    } else if (a == "--json") {
      global.json = true;
    } else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else {
      rest.push_back(a);
    }
  }
  if (rest.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  std::string command = rest.front();
  std::vector<std::string> args(rest.begin() + 1, rest.end());
  if (command == "capabilities" || command == "caps") {
    return bangerctl::RunCapabilitiesCommand(global, args);
  }
  if (command == "vm") return bangerctl::RunVmCommand(global, args);
  if (command == "plugin") return bangerctl::RunPluginCommand(args);
  if (command == "ops" || command == "operations") {
    return bangerctl::RunOperationsCommand(global, args);
  }
  if (command == "metrics") return bangerctl::RunMetricsCommand(global, args);
  if (command == "version") {
    std::cout << "bangerctl " << banger::core::kBangerVersion << " (capability ABI "
              << BANGER_ABI_MAJOR << "." << BANGER_ABI_MINOR << ")\n";
    return 0;
  }
  std::cerr << "bangerctl: unknown command '" << command << "' (see bangerctl --help)\n";
  return 2;
}
