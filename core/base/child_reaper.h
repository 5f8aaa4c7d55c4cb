// ReapLater: a child process whose exit nobody needs to wait for (the first
// process of a helper that detaches, such as the VMM's log writer) is reaped
// by one background thread when it exits, so it never lingers as a zombie
// and its parent never blocks on it. The thread waits on a pidfd per child
// (poll; a child whose pidfd could not be opened is looked at with
// waitpid(WNOHANG) at least once a second); it starts at the first call and
// lives as long as the process.
// Thread-safe.
#pragma once

#include <sys/types.h>

namespace banger::core {

// `pid` must be a child of this process that nothing else waits for. A pid
// already gone (reaped elsewhere) is ignored.
void ReapLater(pid_t pid);

}  // namespace banger::core
