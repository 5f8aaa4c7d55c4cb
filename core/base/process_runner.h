// RunProcess: runs a program from an argv vector (never a shell) with a
// deadline, capturing stdout+stderr. Used by the exec host service. The child
// starts with a clean signal mask and default dispositions (the agent blocks
// its shutdown signals in every thread), stdin from /dev/null or `input_path`.
// Thread-safe: each call is independent.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"

namespace banger::core {

struct ProcessOutcome {
  int exit_code = -1;   // when it exited
  int term_signal = 0;  // when a signal ended it
  bool timed_out = false;
};

// Runs argv[0] (searched in PATH) until it exits or `timeout` passes, then
// SIGKILLs and reaps it. `on_output` receives output chunks as they arrive
// (may be empty to discard). Error only when it could not be started.
Result<ProcessOutcome> RunProcess(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout,
                                  const std::function<void(std::string_view)>& on_output = {},
                                  const std::string& input_path = "/dev/null");

}  // namespace banger::core
