// The VMM process (Firecracker, or fc-sim standing in for it): launching it,
// knowing when it is ready, stopping it with escalation, killing it, and
// finding it again after the agent lost track of it.
//
// Every signal goes through a pidfd opened *after* the process's start time
// was checked against the recorded one, so a PID reused by another process
// is never signalled. A VMM launched by this agent is its child and is reaped
// here; one adopted after an agent restart is not, and its exit is observed
// through the pidfd. Functions are independent; thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/vmm/process_identity.h"

namespace banger::core {

// A VMM started through the jailer (jail.h): its command line.
struct VmmJail {
  std::string jailer;  // a path, or a name looked up in PATH
  std::string chroot_base;
  uid_t uid = 0;
  gid_t gid = 0;
  int cgroup_version = 1;
  std::string parent_cgroup;
  std::vector<std::string> cgroups;          // FILE=VALUE, --cgroup
  std::vector<std::string> resource_limits;  // RESOURCE=VALUE, --resource-limit
  std::string api_socket;                    // as the VMM sees it, inside the jail
};

struct VmmLaunchSpec {
  std::string binary;  // a path, or a name looked up in PATH (the jailer's --exec-file)
  std::vector<std::string> extra_args;
  std::string id;            // --id (the jailer's: alphanumerics and hyphens)
  std::string api_socket;    // its path on the host (in the jail's root when jailed)
  std::string vsock_path;    // removed before launch if stale
  std::string metrics_path;  // created empty (truncated) before launch
  std::string log_path;      // stdout and stderr, appended
  // When set, the VMM's output goes through this program (banger-vmm-log)
  // to log_path, capped at log_max_bytes and rotated keeping log_keep older
  // files; else the VMM appends to log_path itself, unbounded.
  std::string log_writer;
  uint64_t log_max_bytes = 8 << 20;
  int log_keep = 1;
  std::chrono::milliseconds ready_timeout{5000};
  std::optional<VmmJail> jail;  // none: the VMM is run directly, as the agent's user
};

// The line written to a VM's log before each VMM start ("-- banger: VMM
// started 2026-11-30T05:06:07Z --"), as journalctl marks a boot: where a
// boot's console begins (GET /v1/vms/{ref}/logs?boot=1).
inline constexpr const char* kVmmStartMarker = "-- banger: VMM started ";

// Resolves `binary` to an executable path (PATH lookup for a bare name).
Result<std::string> ResolveVmmBinary(const std::string& binary);

// Removes stale files and starts the VMM in its own session with
// `--api-sock <api_socket> --id <id>`; returns at once with its identity, so
// the caller can record it before waiting for it. Jailed: runs the jailer
// (--new-pid-ns, so the VMM is not the jailer's process), waits for it to
// exit and reads the VMM's PID from the jail's pid file.
Result<ProcessIdentity> SpawnVmm(const VmmLaunchSpec& spec);

// Waits until the spawned VMM answers GET /. On failure it is killed and
// reaped, and the error says what happened (exited during start, with the
// last line of its log; no answer in time).
Status WaitVmmReady(const ProcessIdentity& vmm, const VmmLaunchSpec& spec);

// SpawnVmm then WaitVmmReady: on failure nothing is left running.
Result<ProcessIdentity> LaunchVmm(const VmmLaunchSpec& spec);

enum class StopStep {
  kAlreadyGone,  // it was not running
  kCtrlAltDel,   // it exited after SendCtrlAltDel within the grace period
  kSigkill,      // it had to be killed
};
const char* StopStepName(StopStep s);

struct StopOutcome {
  StopStep step;
  std::string detail;  // why it escalated, if it did
  std::chrono::milliseconds took{0};
};

// SendCtrlAltDel, wait up to `grace` for the exit, then SIGKILL and wait.
Result<StopOutcome> StopVmm(const ProcessIdentity& vmm, const std::string& api_socket,
                            std::chrono::milliseconds grace);

// SIGKILL and wait for the exit. OK when it was already gone.
Status KillVmm(const ProcessIdentity& vmm);

// Reaps `pid` if it is a child of this process that has exited (no-op
// otherwise).
void ReapIfExitedChild(pid_t pid);

// A pidfd for exactly this process (readable once it exits), or -1 when the
// PID is gone or now belongs to another process. The caller closes it.
int OpenProcessPidfd(const ProcessIdentity& p);

}  // namespace banger::core
