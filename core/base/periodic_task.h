// PeriodicTask: runs a function on its own thread every `interval` until
// stopped. A run never overlaps the previous one; a run that overran does not
// cause a burst of catch-up runs. Start once; Stop (or the destructor) joins.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace banger::core {

class PeriodicTask {
 public:
  PeriodicTask(std::chrono::milliseconds interval, std::function<void()> run)
      : interval_(interval), run_(std::move(run)) {}
  ~PeriodicTask() { Stop(); }
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  // The first run comes after `first`, each next one `interval` later.
  void Start(std::chrono::milliseconds first);
  void Start() { Start(interval_); }
  void Stop();

 private:
  std::chrono::milliseconds interval_;
  std::function<void()> run_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace banger::core
