// TickScheduler: calls each running capability's tick hook at its own
// interval, one thread per ticking capability, so a slow tick delays only
// itself. A tick never overlaps the previous tick of the same capability.
// Start once, Stop once (Stop joins; also done by the destructor).
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "core/hook_dispatcher.h"

namespace banger {

class TickScheduler {
 public:
  TickScheduler(HookDispatcher& dispatcher, const Logger& logger)
      : dispatcher_(dispatcher), logger_(logger) {}
  ~TickScheduler() { Stop(); }

  void Start();
  void Stop();

 private:
  void Run(Plugin* plugin);

  HookDispatcher& dispatcher_;
  const Logger& logger_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace banger
