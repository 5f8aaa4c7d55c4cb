// A VM's console log as GET /v1/vms/{ref}/logs serves it: the files
// banger-vmm-log keeps (vmm.log, and vmm.log.1 ... when rotated), oldest
// first, optionally only the last N lines, optionally followed as the VM
// writes (across rotations) until it stops.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace banger::core {

struct ConsoleLogRequest {
  std::string path;                    // the VM's runtime.log_path
  std::optional<uint64_t> tail_lines;  // none: every kept line
  bool last_boot = false;              // from the last VMM start's marker line on
  bool follow = false;
  int keep = 100;  // rotated files to look for (path.1 ... path.keep)
};

// Sends the log through `emit` in chunks (false from it: the reader left).
// When following, `still_running` is asked between polls; once it says no and
// nothing more was written, the call returns. `marker` begins the line that
// starts each boot (kVmmStartMarker).
void StreamConsoleLog(const ConsoleLogRequest& request, const std::string& marker,
                      const std::function<bool(const std::string&)>& emit,
                      const std::function<bool()>& still_running);

}  // namespace banger::core
