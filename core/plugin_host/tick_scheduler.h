// TickScheduler: calls each running capability's tick hook at its own
// interval, one PeriodicTask (thread) per ticking capability, so a slow tick
// delays only itself and never overlaps its previous run. Start once, Stop
// once (also done by the destructor).
#pragma once

#include <memory>
#include <vector>

#include "core/base/periodic_task.h"
#include "core/plugin_host/hook_dispatcher.h"

namespace banger::core {

class TickScheduler {
 public:
  TickScheduler(HookDispatcher& dispatcher, const Logger& logger)
      : dispatcher_(dispatcher), logger_(logger) {}
  ~TickScheduler() { Stop(); }

  void Start();
  void Stop();

 private:
  HookDispatcher& dispatcher_;
  const Logger& logger_;
  std::vector<std::unique_ptr<PeriodicTask>> tasks_;
};

}  // namespace banger::core
