// The tap capability's descriptor and entry point.
#include <banger/capability.hpp>

#include <stdexcept>

#include "plugins/tap/tap_pool.h"

namespace {

class Tap {
 public:
  explicit Tap(banger::Host host) : pool_(host) {
    banger::Status s = host.RegisterCommand("pool", "the warm pool: size, in use, free");
    if (s.ok()) {
      s = host.RegisterCommand("release",
                               "delete the pool's free TAP devices and stop warming it (before "
                               "banger leaves the host); a VM's start makes its device again");
    }
    if (!s.ok()) throw std::runtime_error(s.message());
  }
  banger::Status Reserve(const banger::Vm& vm) { return pool_.Reserve(vm); }
  banger::Status Prepare(const banger::Vm& vm) { return pool_.Prepare(vm); }
  banger::Status Cleanup(const banger::Vm& vm) { return pool_.Cleanup(vm); }
  std::optional<std::string> Rediscover(const banger::Vm& vm, std::string_view key) {
    return pool_.Rediscover(vm, key);
  }
  void Shutdown() { pool_.Shutdown(); }
  banger::Status Command(std::string_view verb, std::string_view, std::string& reply) {
    if (verb == "pool") {
      reply = pool_.PoolJson();
    } else if (verb == "release") {
      reply = pool_.Release();
    } else {
      return banger::Status::FromCode(BANGER_NOT_FOUND, "no such command");
    }
    return banger::Status::Ok();
  }

 private:
  tapcap::TapPool pool_;
};

}  // namespace

BANGER_CAPABILITY(Tap, (banger::Info{.name = "tap",
                                     .version = "1.0.0",
                                     .description = "TAP devices for VMs, from a warm pool",
                                     .config_keys = tapcap::kTapConfigKeys}))
