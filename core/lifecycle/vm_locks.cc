#include "core/lifecycle/vm_locks.h"

namespace banger::core {

std::shared_ptr<std::mutex> VmLocks::MutexFor(const std::string& vm_id) {
  std::lock_guard lock(mu_);
  auto& m = locks_[vm_id];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

HeldVmLock VmLocks::Acquire(const std::string& vm_id) {
  return HeldVmLock(MutexFor(vm_id));
}

std::optional<HeldVmLock> VmLocks::TryAcquire(const std::string& vm_id) {
  auto m = MutexFor(vm_id);
  if (!m->try_lock()) return std::nullopt;
  return HeldVmLock(std::move(m), std::adopt_lock);
}

}  // namespace banger::core
