// Spawn: starting a program from an argv vector (posix_spawn; never a shell),
// stdin from /dev/null (or a file), stdout and stderr to one place. The child starts with
// no signal blocked and every signal at its default, whatever the caller's
// mask (bangerd blocks its shutdown signals in every thread). The one place
// the agent, its exec service and the tests start programs. Thread-safe.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "core/base/status.h"

namespace banger::core {

struct SpawnOptions {
  int input_fd = -1;                     // stdin: an open descriptor (duplicated), else
  std::string input_path = "/dev/null";  // a file opened read-only
  // stdout and stderr: an open descriptor (duplicated onto both), else a
  // file opened with `output_flags` (created with `output_mode`).
  int output_fd = -1;
  std::string output_path = "/dev/null";
  int output_flags = O_WRONLY | O_CREAT | O_APPEND;
  mode_t output_mode = 0640;
  bool new_session = false;  // setsid: outlives the caller, takes no terminal signals
  bool search_path = false;  // posix_spawnp: a bare name is looked up in PATH
};

// The child's pid. The error is posix_spawn's ("No such file or directory");
// the caller names what it tried to start.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options);

}  // namespace banger::core
