#include "core/vmm/vmm_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/base/child_reaper.h"
#include "core/base/spawn.h"
#include "core/base/unique_fd.h"
#include "core/vmm/firecracker_client.h"
#include "core/vmm/jail.h"

namespace banger::core {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

}  // namespace

void ReapIfExitedChild(pid_t pid) {
  int status;
  while (::waitpid(pid, &status, WNOHANG) < 0 && errno == EINTR) {
  }
}

namespace {

// A pidfd for exactly the recorded process, or invalid when the PID is gone
// or now belongs to another process.
UniqueFd OpenPidfd(const ProcessIdentity& p) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, p.pid, 0)));
  if (!fd.valid()) return fd;
  // Checked after opening: from here on the pidfd names that process even if
  // the PID is reused, so the start time proves it is the one recorded.
  auto start = ProcessStartTime(p.pid);
  if (!start || *start != p.start_time) return UniqueFd();
  return fd;
}

// Waits until the process behind `pidfd` exits or `timeout` passes.
bool WaitExit(int pidfd, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    pollfd p{pidfd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 0)));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace

int OpenProcessPidfd(const ProcessIdentity& p) {
  return OpenPidfd(p).Release();
}

namespace {

bool SendSignal(int pidfd, int sig) {
  return ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0 || errno == ESRCH;
}

void RemoveStale(const std::string& path) {
  if (!path.empty()) ::unlink(path.c_str());
}

std::string LastLogLine(const std::string& path) {
  // Through a log writer the last lines land a moment after the VMM wrote
  // them: wait (at most half a second) until the file stops growing.
  struct stat st {};
  off_t size = ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
  for (int quiet = 0, waited = 0; quiet < 5 && waited < 50; ++waited) {
    std::this_thread::sleep_for(milliseconds(10));
    off_t now = ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
    quiet = now == size ? quiet + 1 : 0;
    size = now;
  }
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return last.empty() ? "(nothing in " + path + ")" : last;
}

// SIGKILL through the pidfd, then wait for the exit and reap a child.
Status SigkillAndWait(int pidfd, const ProcessIdentity& vmm) {
  if (!SendSignal(pidfd, SIGKILL)) {
    return Status::Error("cannot SIGKILL VMM pid " + std::to_string(vmm.pid) + ": " +
                         std::strerror(errno));
  }
  if (!WaitExit(pidfd, milliseconds(10000))) {
    return Status::Error("VMM pid " + std::to_string(vmm.pid) + " survived SIGKILL for 10 s");
  }
  ReapIfExitedChild(vmm.pid);
  return Status::Ok();
}

}  // namespace

const char* StopStepName(StopStep s) {
  switch (s) {
    case StopStep::kAlreadyGone:
      return "already-gone";
    case StopStep::kCtrlAltDel:
      return "ctrl-alt-del";
    case StopStep::kSigkill:
      return "sigkill";
  }
  return "?";
}

Result<std::string> ResolveVmmBinary(const std::string& binary) {
  if (binary.empty()) return Status::Invalid("no VMM binary configured");
  if (binary.find('/') != std::string::npos) {
    if (::access(binary.c_str(), X_OK) != 0) {
      return Status::Unavailable("VMM binary " + binary +
                                 " is not executable: " + std::strerror(errno));
    }
    return binary;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t i = 0;
  while (i <= dirs.size()) {
    size_t j = dirs.find(':', i);
    if (j == std::string::npos) j = dirs.size();
    std::string candidate = dirs.substr(i, j - i) + "/" + binary;
    if (j > i && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    i = j + 1;
  }
  return Status::Unavailable("VMM binary '" + binary +
                             "' is not in PATH; install Firecracker or set [core] vmm_binary");
}

namespace {

std::string ExitText(int status) {
  return WIFEXITED(status)     ? "exit status " + std::to_string(WEXITSTATUS(status))
         : WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                               : "unknown status";
}

// Where the VMM's stdout and stderr go: the log file itself, or the write end
// of a pipe to a log writer started (detached: it forks and its first process
// exits at once) in a session of its own. The start does not wait for that
// first process (it is reaped in the background): the file was just opened
// and written here, so the writer, started (its exec checked by Spawn), can
// open it too.
Result<UniqueFd> VmmOutput(const VmmLaunchSpec& spec) {
  {
    UniqueFd log(::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    time_t now = ::time(nullptr);
    struct tm tm;
    gmtime_r(&now, &tm);
    char line[96];
    size_t n = std::strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ --\n", &tm);
    std::string marker = std::string(kVmmStartMarker) + std::string(line, n);
    if (!log.valid() || ::write(log.get(), marker.data(), marker.size()) < 0) {
      return Status::Error("cannot write " + spec.log_path + ": " + std::strerror(errno));
    }
  }
  if (spec.log_writer.empty()) {
    UniqueFd fd(::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    if (!fd.valid()) {
      return Status::Error("cannot open " + spec.log_path + ": " + std::strerror(errno));
    }
    return fd;
  }
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) {
    return Status::Error(std::string("log pipe: ") + std::strerror(errno));
  }
  UniqueFd read_end(ends[0]), write_end(ends[1]);
  SpawnOptions spawn;
  spawn.input_fd = read_end.get();
  spawn.new_session = true;
  auto writer = Spawn(
      {spec.log_writer, "--file", spec.log_path, "--max-bytes", std::to_string(spec.log_max_bytes),
       "--keep", std::to_string(spec.log_keep), "--detach"},
      spawn);
  if (!writer) {
    return Status::Error("cannot start the log writer " + spec.log_writer + ": " +
                         writer.status().message());
  }
  ReapLater(*writer);
  return write_end;
}

// Runs the jailer, which builds the jail, puts the VMM in its own PID
// namespace and exits; the VMM's PID is then in the jail's pid file.
Result<ProcessIdentity> SpawnJailed(const VmmLaunchSpec& spec, const std::string& exec_file) {
  const VmmJail& j = *spec.jail;
  auto jailer = ResolveVmmBinary(j.jailer);
  if (!jailer) return jailer.status().Prefixed("the jailer");
  std::vector<std::string> argv{*jailer,
                                "--id",
                                spec.id,
                                "--exec-file",
                                exec_file,
                                "--uid",
                                std::to_string(j.uid),
                                "--gid",
                                std::to_string(j.gid),
                                "--chroot-base-dir",
                                j.chroot_base,
                                "--cgroup-version",
                                std::to_string(j.cgroup_version),
                                "--parent-cgroup",
                                j.parent_cgroup};
  for (const auto& c : j.cgroups) argv.insert(argv.end(), {"--cgroup", c});
  for (const auto& r : j.resource_limits) argv.insert(argv.end(), {"--resource-limit", r});
  argv.insert(argv.end(), {"--new-pid-ns", "--", "--api-sock", j.api_socket});
  argv.insert(argv.end(), spec.extra_args.begin(), spec.extra_args.end());
  auto output = VmmOutput(spec);  // the VMM's output follows the jailer's there
  if (!output) return output.status();
  SpawnOptions spawn;
  spawn.output_fd = output->get();
  spawn.new_session = true;
  auto spawned = Spawn(argv, spawn);
  if (!spawned) return Status::Error("cannot start " + *jailer + ": " + spawned.status().message());
  pid_t jailer_pid = *spawned;
  auto deadline = Clock::now() + spec.ready_timeout;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(jailer_pid, &status, WNOHANG);
    if (r == jailer_pid) break;
    if (r < 0 && errno != EINTR)
      return Status::Error(std::string("waitpid: ") + std::strerror(errno));
    if (Clock::now() >= deadline) {
      ::kill(jailer_pid, SIGKILL);
      ::waitpid(jailer_pid, &status, 0);
      return Status::Error("the jailer did not finish within " +
                           std::to_string(spec.ready_timeout.count()) + " ms; killed it");
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::Error("the jailer failed (" + ExitText(status) +
                         "): " + LastLogLine(spec.log_path));
  }
  std::string pid_file = JailPathsFor(j.chroot_base, exec_file, spec.id).pid_file;
  std::ifstream in(pid_file);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) {
    return Status::Error("the jailer exited without writing the VMM's PID to " + pid_file);
  }
  auto start = ProcessStartTime(static_cast<pid_t>(pid));
  if (!start) {
    return Status::Error("the VMM (pid " + std::to_string(pid) +
                         " from the jailer) exited during start: " + LastLogLine(spec.log_path));
  }
  return ProcessIdentity{static_cast<pid_t>(pid), *start};
}

}  // namespace

Result<ProcessIdentity> SpawnVmm(const VmmLaunchSpec& spec) {
  auto binary = ResolveVmmBinary(spec.binary);
  if (!binary) return binary.status();
  // Firecracker refuses an existing API socket and binds the vsock path at
  // PUT /vsock (failing if it exists); it opens the metrics file without
  // truncating it. So: remove both sockets, start the metrics file empty.
  RemoveStale(spec.api_socket);
  RemoveStale(spec.vsock_path);
  if (!spec.metrics_path.empty()) {
    UniqueFd m(::open(spec.metrics_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!m.valid()) {
      return Status::Error("cannot create metrics file " + spec.metrics_path + ": " +
                           std::strerror(errno));
    }
    if (spec.jail && ::fchown(m.get(), spec.jail->uid, spec.jail->gid) != 0) {
      return Status::Error("cannot chown metrics file " + spec.metrics_path + ": " +
                           std::strerror(errno));
    }
  }
  if (spec.jail) return SpawnJailed(spec, *binary);
  std::vector<std::string> argv{*binary, "--api-sock", spec.api_socket, "--id", spec.id};
  argv.insert(argv.end(), spec.extra_args.begin(), spec.extra_args.end());
  auto output = VmmOutput(spec);
  if (!output) return output.status();
  SpawnOptions spawn;
  spawn.output_fd = output->get();
  // Its own session: it outlives the agent and takes no signal meant for the
  // agent's terminal or process group.
  spawn.new_session = true;
  auto spawned = Spawn(argv, spawn);
  if (!spawned) return Status::Error("cannot start " + *binary + ": " + spawned.status().message());
  pid_t pid = *spawned;
  // The start time is fixed at fork, so it can be read before the exec.
  return ProcessIdentity{pid, ProcessStartTime(pid).value_or(0)};
}

Status WaitVmmReady(const ProcessIdentity& vmm, const VmmLaunchSpec& spec) {
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, vmm.pid, 0)));
  // Ready when the API answers GET /. Poll briefly: Firecracker is up in ~10 ms.
  FirecrackerClient client(spec.api_socket, milliseconds(500));
  auto deadline = Clock::now() + spec.ready_timeout;
  auto pause = milliseconds(1);
  Status last = Status::Error("not polled");
  while (Clock::now() < deadline) {
    if (!pidfd.valid() || WaitExit(pidfd.get(), milliseconds(0))) {
      // A jailed VMM is not this process's child: no status to collect.
      int status = 0;
      bool reaped = ::waitpid(vmm.pid, &status, 0) == vmm.pid;
      return Status::Error("the VMM exited during start" +
                           (reaped ? " (" + ExitText(status) + ")" : std::string()) + ": " +
                           LastLogLine(spec.log_path));
    }
    auto info = client.GetInstanceInfo();
    if (info) return Status::Ok();
    last = info.status();
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, milliseconds(20));
  }
  if (pidfd.valid()) SigkillAndWait(pidfd.get(), vmm);
  return Status::Error("the VMM did not answer GET / within " +
                       std::to_string(spec.ready_timeout.count()) + " ms (" + last.message() +
                       "); killed it");
}

Result<ProcessIdentity> LaunchVmm(const VmmLaunchSpec& spec) {
  auto vmm = SpawnVmm(spec);
  if (!vmm) return vmm.status();
  if (Status ready = WaitVmmReady(*vmm, spec); !ready) return ready;
  return vmm;
}

Result<StopOutcome> StopVmm(const ProcessIdentity& vmm, const std::string& api_socket,
                            milliseconds grace) {
  auto began = Clock::now();
  auto took = [&] { return std::chrono::duration_cast<milliseconds>(Clock::now() - began); };
  UniqueFd pidfd = OpenPidfd(vmm);
  if (!pidfd.valid() || !ProcessAlive(vmm)) {
    ReapIfExitedChild(vmm.pid);
    return StopOutcome{StopStep::kAlreadyGone, "", took()};
  }
  // Polite first: the guest shuts down and Firecracker exits.
  Status asked = FirecrackerClient(api_socket, std::min(grace, milliseconds(2000)))
                     .Act(FcAction::kSendCtrlAltDel);
  std::string detail;
  if (asked) {
    if (WaitExit(pidfd.get(), grace)) {
      ReapIfExitedChild(vmm.pid);
      return StopOutcome{StopStep::kCtrlAltDel, "", took()};
    }
    detail = "no exit within " + std::to_string(grace.count()) + " ms of SendCtrlAltDel";
  } else {
    detail = "SendCtrlAltDel failed: " + asked.message();
  }
  if (Status killed = SigkillAndWait(pidfd.get(), vmm); !killed) return killed;
  return StopOutcome{StopStep::kSigkill, detail, took()};
}

Status KillVmm(const ProcessIdentity& vmm) {
  UniqueFd pidfd = OpenPidfd(vmm);
  if (!pidfd.valid()) {
    ReapIfExitedChild(vmm.pid);
    return Status::Ok();
  }
  return SigkillAndWait(pidfd.get(), vmm);
}

}  // namespace banger::core
