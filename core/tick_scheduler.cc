#include "core/tick_scheduler.h"

#include <chrono>

namespace banger {

void TickScheduler::Start() {
  for (Plugin* p : dispatcher_.Running()) {
    const auto& hooks = p->library->hooks;
    if (hooks.tick == nullptr || hooks.tick_interval_ms == 0) continue;
    threads_.emplace_back([this, p] { Run(p); });
  }
}

void TickScheduler::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void TickScheduler::Run(Plugin* plugin) {
  const auto interval = std::chrono::milliseconds(plugin->library->hooks.tick_interval_ms);
  auto next = std::chrono::steady_clock::now() + interval;
  std::unique_lock lock(mu_);
  while (!cv_.wait_until(lock, next, [this] { return stopping_; })) {
    lock.unlock();
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    if (Status s = dispatcher_.Tick(*plugin, now); !s) logger_.Warn(plugin->name, s.message());
    lock.lock();
    // Fixed rate, but a tick that overran does not cause a burst of catch-up
    // ticks: the next one is one interval after now at the earliest.
    next = std::max(next + interval, std::chrono::steady_clock::now());
  }
}

}  // namespace banger
