// The portfwd capability's descriptor and entry point.
#include <banger/capability.hpp>

#include "plugins/portfwd/port_forwarder.h"

namespace {

class Portfwd {
 public:
  explicit Portfwd(banger::Host host) : forwarder_(host) {}
  banger::Status ValidateOptions(const std::vector<std::pair<std::string, std::string>>& options) {
    return forwarder_.ValidateOptions(options);
  }
  banger::Status Reserve(const banger::Vm& vm) { return forwarder_.Reserve(vm); }
  banger::Status Prepare(const banger::Vm& vm) { return forwarder_.Prepare(vm); }
  banger::Status Cleanup(const banger::Vm& vm) { return forwarder_.Cleanup(vm); }

 private:
  portfwdcap::PortForwarder forwarder_;
};

const char* const kRequires[] = {"tap", nullptr};

}  // namespace

BANGER_CAPABILITY(Portfwd,
                  (banger::Info{.name = "portfwd",
                                .version = "1.0.0",
                                .description = "forwards host ports to VMs (nftables or iptables)",
                                .dependencies = kRequires,
                                .config_keys = portfwdcap::kPortfwdConfigKeys}))
