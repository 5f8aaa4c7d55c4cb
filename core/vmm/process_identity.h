// Telling one process from another across PID reuse: a process is identified
// by its PID *and* its start time (field 22 of /proc/PID/stat, clock ticks
// since boot), which no later process with the same PID can share. Also the
// /proc scan that finds a VMM by the API socket on its command line.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/status.h"

namespace banger::core {

struct ProcessIdentity {
  pid_t pid = 0;
  uint64_t start_time = 0;
};

// Start time of `pid`, or nullopt if there is no such process.
std::optional<uint64_t> ProcessStartTime(pid_t pid);
// True when the process exists, has that start time and is not a zombie.
bool ProcessAlive(const ProcessIdentity& p);

// Every live process whose command line holds `--api-sock <path>` (or
// `--api-sock=<path>`), by that path: one /proc scan for all VMs. A process
// in a chroot counts only when it is a jailed VMM under `chroot_base`
// (jail.h): its root is <chroot_base>/<exec file name>/<its --id>/root, and
// its socket is listed by the host path, that root joined with the path.
std::map<std::string, std::vector<ProcessIdentity>> ScanApiSocketProcesses(
    const std::string& chroot_base = {});

// Finds the process whose command line holds `--api-sock <path>` (or
// `--api-sock=<path>`). Accepted only if its start time equals
// `recorded_start_time`; a process with the socket but another start time is
// a reused PID or a new VMM and is refused, saying so. NotFound when no
// process has the socket.
Result<ProcessIdentity> FindProcessByApiSocket(const std::string& api_socket,
                                               uint64_t recorded_start_time,
                                               const std::string& chroot_base = {});

}  // namespace banger::core
