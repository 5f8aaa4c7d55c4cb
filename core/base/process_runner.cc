#include "core/base/process_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/base/spawn.h"
#include "core/base/unique_fd.h"

namespace banger::core {
namespace {

int PidfdOpen(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

ProcessOutcome Decode(int wstatus) {
  ProcessOutcome o;
  if (WIFEXITED(wstatus)) o.exit_code = WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) o.term_signal = WTERMSIG(wstatus);
  return o;
}

}  // namespace

Result<ProcessOutcome> RunProcess(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout,
                                  const std::function<void(std::string_view)>& on_output,
                                  const std::string& input_path) {
  if (argv.empty() || argv[0].empty()) return Status::Error("exec: empty argv");
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    return Status::Error(std::string("exec: pipe: ") + std::strerror(errno));
  }
  UniqueFd read_end(pipefd[0]), write_end(pipefd[1]);

  SpawnOptions spawn;
  spawn.output_fd = write_end.get();
  spawn.search_path = true;
  spawn.input_path = input_path;
  auto spawned = Spawn(argv, spawn);
  if (!spawned) return Status::Error("exec " + argv[0] + ": " + spawned.status().message());
  pid_t pid = *spawned;
  write_end.Reset();

  UniqueFd pidfd(PidfdOpen(pid));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool pipe_open = true, exited = false, timed_out = false;
  char buf[8192];
  // Wait for both: the output pipe reaching EOF and the process exiting. A
  // grandchild that keeps the pipe open cannot hold us past the deadline.
  while (pipe_open || !exited) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = !exited;
      break;
    }
    pollfd fds[2] = {{read_end.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) break;
    if (pipe_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = ::read(read_end.get(), buf, sizeof buf);
      if (got > 0) {
        if (on_output) on_output(std::string_view(buf, static_cast<size_t>(got)));
      } else if (got == 0 || errno != EINTR) {
        pipe_open = false;
        read_end.Reset();
      }
    }
    if (!pidfd.valid() || (fds[1].revents & POLLIN)) exited = true;
    if (!pipe_open && !pidfd.valid()) break;  // no pidfd: fall through to waitpid
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  ProcessOutcome outcome = Decode(wstatus);
  outcome.timed_out = timed_out;
  return outcome;
}

}  // namespace banger::core
