// VmmExitWatcher: knows at once when a running VM's VMM exits (the guest
// powered off, the VMM crashed or was killed), instead of at the next
// periodic reconcile: one thread waits on a pidfd per watched VMM (epoll) and
// calls `on_exit(vm_id)` when one becomes readable. A VMM is watched from its
// start or its re-adoption; the watch ends with its exit or with Forget.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/base/unique_fd.h"
#include "core/vmm/process_identity.h"

namespace banger::core {

class VmmExitWatcher {
 public:
  using OnExit = std::function<void(const std::string& vm_id)>;
  explicit VmmExitWatcher(OnExit on_exit);
  ~VmmExitWatcher();  // Stop
  VmmExitWatcher(const VmmExitWatcher&) = delete;
  VmmExitWatcher& operator=(const VmmExitWatcher&) = delete;

  // Starts the watcher's thread, which first watches `initial` (VM id,
  // VMM), then waits.
  void Start(std::vector<std::pair<std::string, ProcessIdentity>> initial = {});
  void Stop();
  // Watches `vmm` for `vm_id` (replacing an earlier watch of that VM). A
  // process already gone is reported too, from the watcher's thread.
  void Watch(const std::string& vm_id, const ProcessIdentity& vmm);

  void Forget(const std::string& vm_id);
  size_t watched() const;

 private:
  // `replace`: an earlier watch of the VM gives way; else this one does.
  void Watch(const std::string& vm_id, UniqueFd pidfd, bool replace);
  void Run();

  OnExit on_exit_;
  UniqueFd epoll_, wake_;
  mutable std::mutex mu_;
  std::map<uint64_t, std::pair<std::string, UniqueFd>> by_key_;  // epoll key -> vm, pidfd
  std::map<std::string, uint64_t> key_of_;
  uint64_t next_key_ = 1;
  std::vector<std::string> gone_;  // watched when already gone: reported by Run
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace banger::core
