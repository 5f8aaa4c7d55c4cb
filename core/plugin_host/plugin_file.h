// Opening a capability file safely. The checks are made on the opened
// descriptor (fstat), never on the path, so the file that was checked is the
// file that gets loaded (through /proc/self/fd/N).
#pragma once

#include <sys/types.h>

#include <string>

#include "core/base/status.h"
#include "core/base/unique_fd.h"

namespace banger::core {

struct PluginFilePolicy {
  bool allow_symlinks = false;  // core.allow_plugin_symlinks
  uid_t agent_uid = 0;          // besides root, the only owner accepted
};

// Opens `path` read-only and checks: not a symlink (unless allowed), a
// regular file, owned by root or the agent's uid, not writable by group or
// others, and an ELF file. Errors say which check failed and how to fix it.
Result<UniqueFd> OpenPluginFile(const std::string& path, const PluginFilePolicy& policy);

// "/proc/self/fd/N": the path dlopen is given for a checked descriptor.
std::string ProcFdPath(int fd);

}  // namespace banger::core
