// `bangerctl host`, `drain`, `undrain`: the node as a fleet scheduler sees it.
#include <iostream>
#include <nlohmann/json.hpp>

#include "tools/bangerctl/agent_client.h"
#include "tools/bangerctl/host_command.h"
#include "tools/bangerctl/table.h"

namespace bangerctl {
namespace {

using nlohmann::json;

std::string Of(const json& part) {
  return std::to_string(part.value("committed", 0)) + " of " +
         std::to_string(part.value("host", 0));
}

}  // namespace

int RunHostCommand(const GlobalOptions& g, const std::vector<std::string>& args) {
  if (!args.empty()) return Fail("host takes no arguments", 2);
  auto r = AgentClient(ResolveSocket(g.socket)).Call("GET", "/v1/host");
  if (!r) return Fail(r.status().message());
  if (g.json) {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  const json& h = *r;
  std::string states;
  for (const auto& [state, n] : h["vms"].items()) {
    if (n.get<int>() > 0)
      states += (states.empty() ? "" : ", ") + std::to_string(n.get<int>()) + " " + state;
  }
  std::cout << "host:      " << h.value("hostname", "")
            << (h.value("draining", false) ? " (draining)" : "")
            << "\nvms:       " << (states.empty() ? "none" : states)
            << "\nvcpus:     " << Of(h["vcpus"]) << " committed"
            << "\nmemory:    " << Of(h["memory_mib"]) << " MiB committed\n";
  for (const auto& [name, pool] : h["pools"].items()) {
    std::cout << "pool " << name << ": " << pool.value("free", 0) << " free of "
              << pool.value("size", 0) << "\n";
  }
  return 0;
}

int RunDrainCommand(const GlobalOptions& g, const std::vector<std::string>& args) {
  if (!args.empty()) return Fail("drain takes no arguments", 2);
  auto r = AgentClient(ResolveSocket(g.socket)).Call("POST", "/v1/host/drain");
  if (!r) return Fail(r.status().message());
  if (g.json) {
    std::cout << r->dump(2) << "\n";
  } else {
    for (const auto& name : (*r)["stopped"])
      std::cout << "stopped " << name.get<std::string>() << "\n";
    for (const auto& f : (*r)["failed"]) {
      std::cout << "FAILED  " << f["vm"].get<std::string>() << ": " << f["error"].get<std::string>()
                << "\n";
    }
    std::cout << "draining: creates and starts are refused until bangerctl undrain ("
              << (*r)["stopped"].size() << " stopped, " << (*r)["failed"].size() << " failed)\n";
  }
  return (*r)["failed"].empty() ? 0 : 1;
}

int RunUndrainCommand(const GlobalOptions& g, const std::vector<std::string>& args) {
  if (!args.empty()) return Fail("undrain takes no arguments", 2);
  auto r = AgentClient(ResolveSocket(g.socket)).Call("POST", "/v1/host/undrain");
  if (!r) return Fail(r.status().message());
  if (g.json) {
    std::cout << r->dump(2) << "\n";
  } else {
    std::cout << "undrained: creates and starts are taken again\n";
  }
  return 0;
}

}  // namespace bangerctl
