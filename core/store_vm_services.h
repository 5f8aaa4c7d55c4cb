// StoreVmServices: the VmServices the host services table uses, backed by
// the record store: handles (through HandleStore), VM views and listing,
// stats (one store transaction per publish). VMM contributions and stop
// need the VM lifecycle; until one is attached they answer UNAVAILABLE.
// Thread-safe.
#pragma once

#include "core/handle_store.h"
#include "core/vm_services.h"
#include "core/vm_store.h"

namespace banger {

// A capability.h status code for a core Status.
int ToBangerCode(const Status& s);

class StoreVmServices : public VmServices {
 public:
  StoreVmServices(VmStore& store, HandleStore& handles) : store_(store), handles_(handles) {}

  ServiceStatus HandleGet(const std::string& vm_id, const std::string& capability,
                          const std::string& key, std::string* value) override;
  ServiceStatus HandleSet(const std::string& vm_id, const std::string& capability,
                          const std::string& key, const std::string& value) override;
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
};

}  // namespace banger
