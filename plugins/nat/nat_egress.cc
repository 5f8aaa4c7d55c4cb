#include "plugins/nat/nat_egress.h"

#include <stdexcept>

#include "plugins/netfilter/sysctl.h"

namespace natcap {

using banger::Status;

NatEgress::NatEgress(banger::Host host) : host_(host) {
  auto config = ParseNatConfig(host_);
  if (config.status.code() == BANGER_SKIP) throw banger::SkipError(config.status.message());
  if (!config.ok()) throw std::runtime_error(config.status.message());
  config_ = config.value;
  backend_ = MakeBackend(config_, host_);
  Status s = backend_->Setup();
  if (s.code() == BANGER_SKIP) throw banger::SkipError(s.message());
  if (!s.ok()) throw std::runtime_error(s.message());
  host_.Info(netfilter::EnableSysctl("net/ipv4/ip_forward"));
  host_.Info("egress through " + config_.uplink + " with the " + config_.backend + " backend" +
             (config_.backend == "nftables" ? " (table ip " + config_.table + ")" : ""));
}

banger::Result<std::pair<std::string, std::string>> NatEgress::Identity(
    const banger::Vm& vm, const std::string& capability) {
  auto ip = host_.HandleGet(vm.id(), "guest_ip", capability);
  if (!ip.ok()) return {ip.status, {}};
  auto tap = host_.HandleGet(vm.id(), "tap_name", capability);
  if (!tap.ok()) return {tap.status, {}};
  if (!ValidIpv4(ip.value) || !ValidIfName(tap.value)) {
    return {Status::Error("recorded guest_ip '" + ip.value + "' / tap_name '" + tap.value +
                          "' are not an IPv4 address and an interface name; refusing to use them"),
            {}};
  }
  return {Status::Ok(), {ip.value, tap.value}};
}

Status NatEgress::Reserve(const banger::Vm& vm) {
  auto id = Identity(vm, "tap");
  if (!id.ok()) return Status::Error("no TAP from the tap capability: " + id.status.message());
  const auto& [ip, tap] = id.value;
  // Identity first: nat's own record of what prepare is about to add.
  if (Status s = host_.HandleSetMany(vm.id(), {{"guest_ip", ip}, {"tap_name", tap}}); !s.ok()) {
    return Status::Error("record the egress: " + s.message());
  }
  return Status::Ok();
}

Status NatEgress::Prepare(const banger::Vm& vm) {
  auto id = Identity(vm, "");  // as reserved
  if (id.status.code() == BANGER_NOT_FOUND) {
    // No reserve before (a host without the hook): reserve now.
    if (Status s = Reserve(vm); !s.ok()) return s;
    id = Identity(vm, "");
  }
  if (!id.ok()) return Status::Error("read the reserved egress: " + id.status.message());
  if (Status s = backend_->Add(id.value.first, id.value.second); !s.ok()) {
    return Status::Error(s.message());
  }
  return Status::Ok();
}

Status NatEgress::Cleanup(const banger::Vm& vm) {
  const std::string who = "cleanup vm \"" + std::string(vm.name()) + "\"";
  auto id = Identity(vm, "");  // nat's own handles first
  if (!id.ok() && id.status.code() == BANGER_NOT_FOUND) {
    std::string own = id.status.message();
    id = Identity(vm, "tap");  // then the tap capability's
    if (!id.ok() && id.status.code() == BANGER_NOT_FOUND) {
      host_.Info(who + ": no tap was ever allocated for this VM (nat: " + own +
                 "; tap: " + id.status.message() + "): nothing to remove");
      return Status::Ok();
    }
  }
  if (!id.ok()) return Status::Error(id.status.message());
  if (Status s = backend_->Remove(id.value.first, id.value.second); !s.ok()) {
    return Status::Error(s.message());
  }
  return Status::Ok();
}

}  // namespace natcap
