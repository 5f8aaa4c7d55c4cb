// Opening a file with someone else's permissions: the agent runs as root,
// and a path a client names must be one the client itself may read (or the
// agent would read /etc/shadow for any member of the socket group: a
// confused deputy). OpenAs forks a child that takes the caller's uid, gid
// and groups, opens the path, and hands the descriptor back over a UNIX
// socket (SCM_RIGHTS); the kernel's own permission check decides.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/base/unique_fd.h"

namespace banger::core {

struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary
};

// The credentials of a live process (/proc/PID/status: Uid, Gid, Groups;
// the effective ids are the ones the kernel checks).
Result<Credentials> CredentialsOf(pid_t pid);

// open(path, flags | O_CLOEXEC) as `who`. Error (with the errno text)
// exactly when `who` could not open it. Root and the agent's own user are
// served in-process.
Result<UniqueFd> OpenAs(const std::string& path, int flags, const Credentials& who);

}  // namespace banger::core
