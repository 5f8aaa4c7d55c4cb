// The nat capability's descriptor and entry point.
#include <banger/capability.hpp>

#include "plugins/nat/nat_egress.h"

namespace {

class Nat {
 public:
  explicit Nat(banger::Host host) : egress_(host) {}
  banger::Status Reserve(const banger::Vm& vm) { return egress_.Reserve(vm); }
  banger::Status Prepare(const banger::Vm& vm) { return egress_.Prepare(vm); }
  banger::Status Cleanup(const banger::Vm& vm) { return egress_.Cleanup(vm); }

 private:
  natcap::NatEgress egress_;
};

const char* const kRequires[] = {"tap", nullptr};

}  // namespace

BANGER_CAPABILITY(Nat, (banger::Info{.name = "nat",
                                     .version = "1.0.0",
                                     .description = "egress NAT for VMs (nftables or iptables)",
                                     .dependencies = kRequires,
                                     .config_keys = natcap::kNatConfigKeys}))
