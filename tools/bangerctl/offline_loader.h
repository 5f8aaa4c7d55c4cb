// Offline capability listing: what a config would load, without an agent.
// The loading happens in a child process, so a capability that crashes while
// loading cannot take bangerctl down: the crash is reported against the file
// that caused it and the listing is retried without that file.
#pragma once

#include <string>
#include <vector>

#include "core/base/status.h"

namespace bangerctl {

// The capabilities report (same JSON as GET /v1/capabilities, with
// "offline": true; no init hook is run) for the config file at `path`.
// `plugin_dirs`, when not empty, replaces the config's [core] plugin_dirs.
banger::core::Result<std::string> LoadOfflineReport(
    const std::string& config_path, const std::vector<std::string>& plugin_dirs = {});

}  // namespace bangerctl
