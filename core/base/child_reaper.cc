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
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
      // Gone and reaped, or not ours: reap it now if it is a zombie child.
      int status;
      ::waitpid(pid, &status, WNOHANG);
      return;
    }
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
      fds.assign(1, pollfd{wake_, POLLIN, 0});
      for (const auto& c : children) fds.push_back(pollfd{c.pidfd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return;
      if (fds[0].revents & POLLIN) {
        uint64_t count;
        ssize_t unused = ::read(wake_, &count, sizeof count);
        (void)unused;
        std::lock_guard lock(mu_);
        children.insert(children.end(), pending_.begin(), pending_.end());
        pending_.clear();
      }
      // Readable pidfds (their process exited): reaped and dropped. Children
      // just added are looked at next round.
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const Child& c = children[i - 1];
        int status;
        while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
        }
        ::close(c.pidfd);
        children[i - 1].pidfd = -1;
      }
      std::erase_if(children, [](const Child& c) { return c.pidfd < 0; });
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
