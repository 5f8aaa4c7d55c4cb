#include "core/lifecycle/vmm_exit_watcher.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "core/vmm/vmm_process.h"

namespace banger::core {

namespace {
constexpr uint64_t kWakeKey = 0;
}  // namespace

VmmExitWatcher::VmmExitWatcher(OnExit on_exit)
    : on_exit_(std::move(on_exit)),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeKey;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
}

VmmExitWatcher::~VmmExitWatcher() {
  Stop();
}

void VmmExitWatcher::Start(std::vector<std::pair<std::string, ProcessIdentity>> initial) {
  thread_ = std::thread([this, initial = std::move(initial)] {
    // Never over one watched since (a start after the agent began serving).
    for (const auto& [vm_id, vmm] : initial) Watch(vm_id, UniqueFd(OpenProcessPidfd(vmm)), false);
    Run();
  });
}

void VmmExitWatcher::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  uint64_t one = 1;
  ssize_t unused = ::write(wake_.get(), &one, sizeof one);
  (void)unused;
  thread_.join();
}

void VmmExitWatcher::Watch(const std::string& vm_id, const ProcessIdentity& vmm) {
  Watch(vm_id, UniqueFd(OpenProcessPidfd(vmm)), /*replace=*/true);
}

void VmmExitWatcher::Watch(const std::string& vm_id, UniqueFd pidfd, bool replace) {
  std::lock_guard lock(mu_);
  if (!replace && key_of_.count(vm_id)) return;
  if (!pidfd.valid()) {
    // Gone already (or the PID is another process's now): an exit to
    // report, never from the caller's thread (it may hold the VM's lock).
    gone_.push_back(vm_id);
    uint64_t one = 1;
    ssize_t unused = ::write(wake_.get(), &one, sizeof one);
    (void)unused;
    return;
  }
  if (auto it = key_of_.find(vm_id); it != key_of_.end()) {
    by_key_.erase(it->second);  // closing the pidfd takes it out of the epoll set
    key_of_.erase(it);
  }
  uint64_t key = next_key_++;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = key;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pidfd.get(), &ev) != 0) return;
  key_of_[vm_id] = key;
  by_key_.emplace(key, std::make_pair(vm_id, std::move(pidfd)));
}

void VmmExitWatcher::Forget(const std::string& vm_id) {
  std::lock_guard lock(mu_);
  auto it = key_of_.find(vm_id);
  if (it == key_of_.end()) return;
  by_key_.erase(it->second);
  key_of_.erase(it);
}

size_t VmmExitWatcher::watched() const {
  std::lock_guard lock(mu_);
  return by_key_.size();
}

void VmmExitWatcher::Run() {
  epoll_event events[32];
  for (;;) {
    int n = ::epoll_wait(epoll_.get(), events, 32, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    std::vector<std::string> exited;
    {
      std::lock_guard lock(mu_);
      for (int i = 0; i < n; ++i) {
        // A copy: epoll_event is packed, its u64 not aligned for a reference.
        const uint64_t key = events[i].data.u64;
        if (key == kWakeKey) {
          if (stopping_) return;
          uint64_t count;
          ssize_t unused = ::read(wake_.get(), &count, sizeof count);
          (void)unused;
          exited.insert(exited.end(), gone_.begin(), gone_.end());
          gone_.clear();
          continue;
        }
        auto it = by_key_.find(key);
        if (it == by_key_.end()) continue;  // forgotten meanwhile
        exited.push_back(it->second.first);
        key_of_.erase(it->second.first);
        by_key_.erase(it);
      }
    }
    // Outside the lock: the callback may Watch or Forget.
    for (const auto& id : exited) on_exit_(id);
  }
}

}  // namespace banger::core
