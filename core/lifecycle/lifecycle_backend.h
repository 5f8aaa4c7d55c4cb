// LifecycleBackend: the VmBackend the host table forwards VM calls to, backed by
// the record store: handles (through HandleStore), VM views and listing,
// stats (one store transaction per publish). VMM contributions and stop
// need the VM lifecycle; until one is attached they answer UNAVAILABLE.
// Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <optional>

#include "core/plugin_host/vm_backend.h"
#include "core/store/handle_store.h"
#include "core/store/vm_store.h"

namespace banger::core {

// A capability.h status code for a core Status.
int ToBangerCode(const Status& s);

// What a capability may ask of the VM lifecycle itself: contributions to a
// VMM configuration (inside its prepare) and a stop. VmLifecycle implements
// it; tests that run capabilities without a lifecycle record the calls.
class LifecycleRequests {
 public:
  virtual ~LifecycleRequests() = default;
  virtual ServiceStatus AddNetworkInterface(const std::string& capability, const std::string& vm_id,
                                            const banger_net_iface& iface) = 0;
  virtual ServiceStatus AppendBootArgs(const std::string& capability, const std::string& vm_id,
                                       const std::string& args) = 0;
  virtual ServiceStatus RequestStop(const std::string& capability, const std::string& vm_id,
                                    const std::string& reason) = 0;
};

// Asks the owning capability to find a handle the cache and record lack.
using HandleRediscoverer = std::function<std::optional<std::string>(
    const std::string& capability, const VmRecord& vm, const std::string& key)>;

class LifecycleBackend : public VmBackend {
 public:
  LifecycleBackend(VmStore& store, HandleStore& handles) : store_(store), handles_(handles) {}

  // Both set once, before capabilities are initialised; not owned.
  void AttachLifecycle(LifecycleRequests* lifecycle) { lifecycle_ = lifecycle; }
  void AttachRediscoverer(HandleRediscoverer r) { rediscover_ = std::move(r); }

  ServiceStatus HandleGet(const std::string& vm_id, const std::string& capability,
                          const std::string& key, std::string* value) override;
  ServiceStatus HandleSet(const std::string& vm_id, const std::string& capability,
                          const std::string& key, const std::string& value) override;
  ServiceStatus HandleFind(const std::string& vm_id, const std::string& capability,
                           const std::string& key, std::string* value) override;
  ServiceStatus OptionGet(const std::string& vm_id, const std::string& capability,
                          const std::string& key, std::string* value) override;
  ServiceStatus HandleSetMany(
      const std::string& vm_id, const std::string& capability,
      const std::vector<std::pair<std::string, std::string>>& values) override;
  ServiceStatus HandleClear(const std::string& vm_id, const std::string& capability,
                            const std::string& key) override;
  ServiceStatus GetVm(const std::string& ref, const VmVisitor& visit) override;
  ServiceStatus ListVms(const VmVisitor& visit) override;
  ServiceStatus AddNetworkInterface(const std::string& capability, const std::string& vm_id,
                                    const banger_net_iface& iface) override;
  ServiceStatus AppendBootArgs(const std::string& capability, const std::string& vm_id,
                               const std::string& args) override;
  ServiceStatus RequestStop(const std::string& capability, const std::string& vm_id,
                            const std::string& reason) override;
  ServiceStatus PublishStats(const std::string& capability,
                             const std::vector<VmSample>& batch) override;

 private:
  VmStore& store_;
  HandleStore& handles_;
  std::atomic<LifecycleRequests*> lifecycle_{nullptr};
  HandleRediscoverer rediscover_;
};

}  // namespace banger::core
