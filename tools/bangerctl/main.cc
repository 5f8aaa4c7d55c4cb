// bangerctl: the banger admin tool. Exit codes: 0 ok, 1 failure, 2 usage.
#include <iostream>
#include <string>
#include <vector>

#include "banger/capability.h"
#include "core/base/version.h"
#include "tools/bangerctl/capabilities_command.h"
#include "tools/bangerctl/command_table.h"
#include "tools/bangerctl/host_command.h"
#include "tools/bangerctl/plugin_check.h"
#include "tools/bangerctl/vm_command.h"

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
      std::cout << bangerctl::HelpText();
      return 0;
    } else if (a == "--man") {
      // bangerctl.8, generated at build time from the same table as --help.
      std::cout << bangerctl::ManPage(banger::core::kBangerVersion);
      return 0;
    } else {
      rest.push_back(a);
    }
  }
  if (rest.empty()) {
    std::cerr << bangerctl::HelpText();
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
  if (command == "host") return bangerctl::RunHostCommand(global, args);
  if (command == "drain") return bangerctl::RunDrainCommand(global, args);
  if (command == "undrain") return bangerctl::RunUndrainCommand(global, args);
  if (command == "completion") {
    if (args.size() != 1 || args[0] != "bash") {
      std::cerr << "bangerctl: completion takes one shell: bash\n";
      return 2;
    }
    std::cout << bangerctl::BashCompletion();
    return 0;
  }
  if (command == "version") {
    std::cout << "bangerctl " << banger::core::kBangerVersion << " (capability ABI "
              << BANGER_ABI_MAJOR << "." << BANGER_ABI_MINOR << ")\n";
    return 0;
  }
  std::cerr << "bangerctl: unknown command '" << command << "' (see bangerctl --help)\n";
  return 2;
}
