// VmLocks: one lock per VM id. Every lifecycle operation on a VM holds its
// VM's lock, so operations on one VM are serialised while operations on
// different VMs run in parallel. TryAcquire lets background work (reconcile,
// the stale-reaper) skip a VM that is busy instead of waiting. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace banger::core {

// One VM's lock, held from Acquire/TryAcquire until destroyed. Movable.
class HeldVmLock {
 public:
  explicit HeldVmLock(std::shared_ptr<std::mutex> m) : mutex_(std::move(m)), lock_(*mutex_) {}
  HeldVmLock(std::shared_ptr<std::mutex> m, std::adopt_lock_t)
      : mutex_(std::move(m)), lock_(*mutex_, std::adopt_lock) {}

 private:
  std::shared_ptr<std::mutex> mutex_;  // keeps the mutex alive while held
  std::unique_lock<std::mutex> lock_;
};

class VmLocks {
 public:
  HeldVmLock Acquire(const std::string& vm_id);
  std::optional<HeldVmLock> TryAcquire(const std::string& vm_id);

 private:
  std::shared_ptr<std::mutex> MutexFor(const std::string& vm_id);
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> locks_;
};

}  // namespace banger::core
