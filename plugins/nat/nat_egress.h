// NatEgress: the nat capability's behaviour. At init: config, net.ipv4.ip_forward
// enabled (and logged), the backend set up. reserve: the VM's guest IP and
// tap (from the tap capability's handles, reserved just before) recorded as
// nat's own handles; prepare: the egress added. cleanup: identity by the cascade - nat's own
// handles, then the tap capability's - and removed; where neither has a value, no tap was ever
// allocated for the VM and there is nothing to remove. Every name that reaches a rule is validated
// first. Thread-safe.
#pragma once

#include <memory>

#include <banger/capability.hpp>

#include "plugins/nat/nat_backend.h"
#include "plugins/nat/nat_config.h"

namespace natcap {

class NatEgress {
 public:
  explicit NatEgress(banger::Host host);  // throws: init error; SkipError: skip
  banger::Status Reserve(const banger::Vm& vm);
  // Adds what reserve recorded (reserving first when it did not run: a host
  // without the hook).
  banger::Status Prepare(const banger::Vm& vm);
  banger::Status Cleanup(const banger::Vm& vm);

 private:
  // guest_ip and tap_name of `capability`'s handles for the VM.
  banger::Result<std::pair<std::string, std::string>> Identity(const banger::Vm& vm,
                                                               const std::string& capability);
  banger::Host host_;
  NatConfig config_;
  std::unique_ptr<NatBackend> backend_;
};

}  // namespace natcap
