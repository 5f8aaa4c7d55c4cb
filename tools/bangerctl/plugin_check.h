// `bangerctl plugin check FILE.so [--plugin-dir DIR]...`: a capability file
// checked offline, in a child process, one line per check ("ok" or "FAIL");
// exit 1 when the agent would not load it.
#pragma once

#include <string>
#include <vector>

namespace bangerctl {

int RunPluginCommand(const std::vector<std::string>& args);

}  // namespace bangerctl
