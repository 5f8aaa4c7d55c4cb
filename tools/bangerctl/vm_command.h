// `bangerctl vm ...`: create, start, stop, kill, rm, ls, show, touch, and any
// verb a capability registered (`bangerctl vm health NAME` reaches
// POST /v1/vms/NAME/health; bangerctl needs no change for new verbs).
#pragma once

#include <string>
#include <vector>

#include "tools/bangerctl/capabilities_command.h"

namespace bangerctl {

int RunVmCommand(const GlobalOptions& global, const std::vector<std::string>& args);
int RunOperationsCommand(const GlobalOptions& global, const std::vector<std::string>& args);
int RunMetricsCommand(const GlobalOptions& global, const std::vector<std::string>& args);

// "512M", "4G", "1024" (bytes) -> bytes; nullopt when malformed.
std::optional<uint64_t> ParseSize(const std::string& text);
// Seconds as "45s", "12m", "3h4m", "2d5h".
std::string FormatUptime(int64_t seconds);

}  // namespace bangerctl
