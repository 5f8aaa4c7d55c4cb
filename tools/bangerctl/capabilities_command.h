// `bangerctl capabilities` (alias `caps`): list the capabilities an agent
// loaded (or, with --offline, what a config would load), or show one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bangerctl {

struct GlobalOptions {
  std::string socket;  // --socket
  bool json = false;   // --json
};

// Runs the command; args are what follows "caps". Returns the exit code
// (0 ok, 1 failure, 2 usage) after printing the result or a one-line error.
int RunCapabilitiesCommand(const GlobalOptions& global, const std::vector<std::string>& args);

// Text renderings of the capabilities JSON (exposed for tests). The table
// cuts a long STATUS to kStatusWidth characters unless no_trunc.
inline constexpr size_t kStatusWidth = 64;
std::string RenderCapabilityTable(const std::string& report_json, bool no_trunc);
std::string RenderCapabilityDetail(const std::string& capability_json);

}  // namespace bangerctl
