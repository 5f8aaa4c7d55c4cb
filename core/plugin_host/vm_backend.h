// VmBackend: what the host table (HostTable) needs from the VM side of the
// agent (records, handles, the VMM configuration being built, stop, stats).
// lifecycle/LifecycleBackend implements it; until one is attached, HostTable
// answers BANGER_UNAVAILABLE for these services. Implementations must be
// thread-safe: capabilities call services from any thread.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "banger/capability.h"

namespace banger::core {

// A service outcome: a capability.h status code and a message for non-OK.
struct ServiceStatus {
  int code = BANGER_OK;
  std::string message;
  static ServiceStatus Ok() { return {}; }
};

class VmBackend {
 public:
  virtual ~VmBackend() = default;

  virtual ServiceStatus HandleGet(const std::string& vm_id, const std::string& capability,
                                  const std::string& key, std::string* value) = 0;
  virtual ServiceStatus HandleSet(const std::string& vm_id, const std::string& capability,
                                  const std::string& key, const std::string& value) = 0;
  // Several keys, one commit.
  virtual ServiceStatus HandleSetMany(
      const std::string& vm_id, const std::string& capability,
      const std::vector<std::pair<std::string, std::string>>& values) = 0;
  // The cache and the record only: never rediscovery, never a write.
  virtual ServiceStatus HandleFind(const std::string& vm_id, const std::string& capability,
                                   const std::string& key, std::string* value) = 0;
  // The VM's option "<capability>.<key>"; NOT_FOUND when unset.
  virtual ServiceStatus OptionGet(const std::string& vm_id, const std::string& capability,
                                  const std::string& key, std::string* value) = 0;
  // key "" clears every key of `capability` for the VM.
  virtual ServiceStatus HandleClear(const std::string& vm_id, const std::string& capability,
                                    const std::string& key) = 0;

  using VmVisitor = std::function<void(const banger_vm&)>;
  virtual ServiceStatus GetVm(const std::string& ref, const VmVisitor& visit) = 0;
  virtual ServiceStatus ListVms(const VmVisitor& visit) = 0;

  // Contributions; `capability` is the caller, which must be inside its
  // prepare hook for `vm_id`.
  virtual ServiceStatus AddNetworkInterface(const std::string& capability, const std::string& vm_id,
                                            const banger_net_iface& iface) = 0;
  virtual ServiceStatus AppendBootArgs(const std::string& capability, const std::string& vm_id,
                                       const std::string& args) = 0;

  virtual ServiceStatus RequestStop(const std::string& capability, const std::string& vm_id,
                                    const std::string& reason) = 0;

  // One VM's figures, as the capability passed them: views valid for the
  // call, not copies.
  struct VmSample {
    std::string_view vm_id;
    std::span<const banger_stat> stats;  // every name non-null
  };
  virtual ServiceStatus PublishStats(const std::string& capability,
                                     const std::vector<VmSample>& batch) = 0;
};

}  // namespace banger::core
