// PortForwarder: the portfwd capability's behaviour. At init: config,
// net.ipv4.ip_forward (and, with loopback, net.ipv4.conf.all.route_localnet)
// enabled and logged, the backend set up.
//  - validate_options (at create): the `tcp` and `udp` options parse, and no
//    host port is one another VM's options claim or a host socket serves.
//  - reserve: the VM's forwards from its options and its guest IP from the
//    tap capability's handles (reserved just before); refused when a port
//    already forwards elsewhere or a host socket serves it; recorded as
//    portfwd's own handles (guest_ip, tcp, udp). prepare: added.
//  - cleanup: identity by the cascade - portfwd's own handles (cache, then
//    record), then the VM's options and the tap capability's guest_ip - and
//    exactly those forwards removed; where there is no guest IP anywhere, no
//    tap was ever allocated and there is nothing to remove.
// Every address that reaches a rule is validated first. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <banger/capability.hpp>

#include "plugins/portfwd/port_forward.h"
#include "plugins/portfwd/portfwd_backend.h"
#include "plugins/portfwd/portfwd_config.h"

namespace portfwdcap {

class PortForwarder {
 public:
  explicit PortForwarder(banger::Host host);  // throws: init error; SkipError: skip
  banger::Status ValidateOptions(const std::vector<std::pair<std::string, std::string>>& options);
  // A VM with forwards: its guest IP (tap's) and forwards recorded, after
  // checking no host socket serves those ports and no other VM forwards
  // them. Nothing is added.
  banger::Status Reserve(const banger::Vm& vm);
  // Adds what reserve recorded (reserving first when it did not run: a host
  // without the hook).
  banger::Status Prepare(const banger::Vm& vm);
  banger::Status Cleanup(const banger::Vm& vm);

 private:
  // The VM's forwards of every protocol: per protocol from portfwd's own
  // handle when `recorded` and it is there, else from the VM's option.
  banger::Result<std::vector<PortForward>> Forwards(std::string_view vm_id, bool recorded) const;
  // Refuses a forward whose host port another VM's options claim.
  banger::Status CheckNotClaimed(const std::vector<PortForward>& forwards) const;
  // Refuses a forward whose host port already forwards to anything but
  // guest_ip, naming the VM it goes to.
  banger::Status CheckNotForwarded(const std::vector<PortForward>& forwards,
                                   const std::string& guest_ip, std::string_view vm_id) const;
  // The name of the VM, other than `except_id`, whose recorded guest_ip is
  // `ip`; "" when none.
  std::string VmWithGuestIp(const std::string& ip, std::string_view except_id) const;
  banger::Host host_;
  PortfwdConfig config_;
  std::unique_ptr<PortfwdBackend> backend_;
};

}  // namespace portfwdcap
