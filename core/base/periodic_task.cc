#include "core/base/periodic_task.h"

#include <algorithm>

namespace banger::core {

void PeriodicTask::Start(std::chrono::milliseconds first) {
  thread_ = std::thread([this, first] {
    auto next = std::chrono::steady_clock::now() + first;
    std::unique_lock lock(mu_);
    while (!cv_.wait_until(lock, next, [this] { return stopping_; })) {
      lock.unlock();
      run_();
      lock.lock();
      next = std::max(next + interval_, std::chrono::steady_clock::now());
    }
  });
}

void PeriodicTask::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace banger::core
