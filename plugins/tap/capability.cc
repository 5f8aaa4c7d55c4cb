// The tap capability's descriptor and entry point.
#include <banger/capability.hpp>

#include "plugins/tap/tap_pool.h"

namespace {

class Tap {
 public:
  explicit Tap(banger::Host host) : pool_(host) {}
  banger::Status Prepare(const banger::Vm& vm) { return pool_.Prepare(vm); }
  banger::Status Cleanup(const banger::Vm& vm) { return pool_.Cleanup(vm); }
  std::optional<std::string> Rediscover(const banger::Vm& vm, std::string_view key) {
    return pool_.Rediscover(vm, key);
  }
  void Shutdown() { pool_.Shutdown(); }

 private:
  tapcap::TapPool pool_;
};

}  // namespace

BANGER_CAPABILITY(Tap, (banger::Info{.name = "tap",
                                     .version = "1.0.0",
                                     .description = "TAP devices for VMs, from a warm pool",
                                     .config_keys = tapcap::kTapConfigKeys}))
