#include "core/plugin_host/tick_scheduler.h"

#include "core/base/clock.h"

#include <chrono>

namespace banger::core {

void TickScheduler::Start() {
  for (Plugin* p : dispatcher_.Running()) {
    const auto& hooks = p->library->hooks;
    if (hooks.tick == nullptr || hooks.tick_interval_ms == 0) continue;
    tasks_.push_back(std::make_unique<PeriodicTask>(
        std::chrono::milliseconds(hooks.tick_interval_ms), [this, p] {
          if (Status s = dispatcher_.Tick(*p, UnixMillis()); !s) logger_.Warn(p->name, s.message());
        }));
    tasks_.back()->Start();
  }
}

void TickScheduler::Stop() {
  for (auto& t : tasks_) t->Stop();
  tasks_.clear();
}

}  // namespace banger::core
