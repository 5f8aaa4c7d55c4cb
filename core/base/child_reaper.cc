#include "core/base/child_reaper.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <thread>
#include <vector>

namespace banger::core {
namespace {

class Reaper {
 public:
  Reaper() : wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    std::thread([this] {
      // Named: it would otherwise carry the name of the thread that started
      // it (ps -T, top -H).
      ::pthread_setname_np(::pthread_self(), "child-reaper");
      Run();
    }).detach();
  }

  void Add(pid_t pid) {
    // Without a pidfd (out of descriptors) it is polled for instead, with
    // waitpid(WNOHANG), on each round of the thread (at least one a second).
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    {
      std::lock_guard lock(mu_);
      pending_.push_back({pid, pidfd});
    }
    uint64_t one = 1;
    ssize_t unused = ::write(wake_, &one, sizeof one);
    (void)unused;
  }

 private:
  struct Child {
    pid_t pid;
    int pidfd;
  };

  void Run() {
    std::vector<Child> children;
    std::vector<pollfd> fds;
    for (;;) {
      // The eventfd first (when it could be made), then each child's pidfd
      // (-1 for one without: poll skips it).
      fds.assign(1, pollfd{wake_, POLLIN, 0});
      for (const auto& c : children) fds.push_back(pollfd{c.pidfd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) {
        ::usleep(100000);  // not expected; never a busy loop
      }
      if (wake_ < 0 || (fds[0].revents & POLLIN)) {
        if (wake_ >= 0) {
          uint64_t count;
          ssize_t unused = ::read(wake_, &count, sizeof count);
          (void)unused;
        }
        std::lock_guard lock(mu_);
        children.insert(children.end(), pending_.begin(), pending_.end());
        pending_.clear();
      }
      // Exited ones are reaped and dropped: a readable pidfd, or (without
      // one) waitpid finding it done. Children just added are looked at as
      // well: WNOHANG never blocks.
      for (auto& c : children) {
        int status;
        pid_t r;
        while ((r = ::waitpid(c.pid, &status, WNOHANG)) < 0 && errno == EINTR) {
        }
        if (r == 0) continue;  // still running
        if (c.pidfd >= 0) ::close(c.pidfd);
        c.pid = -1;
      }
      std::erase_if(children, [](const Child& c) { return c.pid < 0; });
    }
  }

  const int wake_;
  std::mutex mu_;
  std::vector<Child> pending_;
};

}  // namespace

void ReapLater(pid_t pid) {
  // Never destroyed: its thread may be waiting when the process exits.
  static Reaper* reaper = new Reaper();
  reaper->Add(pid);
}

}  // namespace banger::core
