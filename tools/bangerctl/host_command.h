// `bangerctl host` (GET /v1/host), `drain` and `undrain` (POST /v1/host/...).
#pragma once

#include <string>
#include <vector>

#include "tools/bangerctl/capabilities_command.h"

namespace bangerctl {

int RunHostCommand(const GlobalOptions& global, const std::vector<std::string>& args);
// Exit 1 when a VM failed to stop (the drain itself stays on).
int RunDrainCommand(const GlobalOptions& global, const std::vector<std::string>& args);
int RunUndrainCommand(const GlobalOptions& global, const std::vector<std::string>& args);

}  // namespace bangerctl
