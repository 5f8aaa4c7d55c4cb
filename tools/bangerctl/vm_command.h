// `bangerctl vm ...`: create, start, stop, kill, rm, ls, show, touch, and any
// verb a capability registered (`bangerctl vm health NAME` reaches
// POST /v1/vms/NAME/health; bangerctl needs no change for new verbs).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tools/bangerctl/capabilities_command.h"

namespace bangerctl {

int RunVmCommand(const GlobalOptions& global, const std::vector<std::string>& args);
int RunOperationsCommand(const GlobalOptions& global, const std::vector<std::string>& args);
int RunMetricsCommand(const GlobalOptions& global, const std::vector<std::string>& args);

// vm run NAME ... and vm logs NAME ... (vm_run.cc).
int RunVmRun(const GlobalOptions& global, const std::vector<std::string>& args);
int RunVmLogs(const GlobalOptions& global, const std::vector<std::string>& args);

// args[0] is NAME: the create flags (--kernel, --rootfs, --boot-args,
// --vcpus, --memory, --work-disk, --opt) into `body` (POST /v1/vms); any
// other argument into `rest`. The reason when a flag is malformed.
std::optional<std::string> ParseCreateFlags(const std::vector<std::string>& args,
                                            nlohmann::json& body, std::vector<std::string>& rest);

// "/v1/vms/<ref, percent-encoded>".
std::string VmUrl(const std::string& ref);
// One stage event of a streamed lifecycle call, as a line of a table.
void PrintStage(const nlohmann::json& stage_event, std::ostream& out);

// "512M", "4G", "1024" (bytes) -> bytes; nullopt when malformed.
std::optional<uint64_t> ParseSize(const std::string& text);
// Seconds as "45s", "12m", "3h4m", "2d5h".
std::string FormatUptime(int64_t seconds);

}  // namespace bangerctl
