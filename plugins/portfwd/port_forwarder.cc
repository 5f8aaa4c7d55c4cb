#include "plugins/portfwd/port_forwarder.h"

#include <set>
#include <stdexcept>

#include "plugins/netfilter/sysctl.h"
#include "plugins/portfwd/listening_ports.h"

namespace portfwdcap {

using banger::Status;

namespace {

// A DNAT of a port a host socket serves would take that service's traffic.
Status CheckNotServed(const std::vector<PortForward>& forwards) {
  for (const auto& f : forwards) {
    if (PortServed(f.proto, f.host_port)) {
      return Status::Invalid(HostPortText(f) +
                             " is in use on this host (a socket of the host serves it); forward "
                             "another host port");
    }
  }
  return Status::Ok();
}

struct VmRef {
  std::string id, name;
};

banger::Result<std::vector<VmRef>> ListVms(const banger::Host& host) {
  std::vector<VmRef> vms;
  // Copied out: the host's services are called after the listing, not from
  // inside its visitor.
  Status s = host.ForEachVm([&](const banger::Vm& vm) {
    vms.push_back({std::string(vm.id()), std::string(vm.name())});
  });
  return {s, std::move(vms)};
}

}  // namespace

PortForwarder::PortForwarder(banger::Host host)
    : host_(host), config_(ParsePortfwdConfig(host)), backend_(MakeBackend(config_, host)) {
  Status s = backend_->Setup();
  if (s.code() == BANGER_SKIP) throw banger::SkipError(s.message());
  if (!s.ok()) throw std::runtime_error(s.message());
  host_.Info(netfilter::EnableSysctl("net/ipv4/ip_forward"));
  // After the backend's setup: its guard against 127.0.0.0/8 from outside
  // is in place before such packets become routable.
  if (config_.loopback) host_.Info(netfilter::EnableSysctl("net/ipv4/conf/all/route_localnet"));
  std::string on;
  for (const auto& a : config_.addresses) on += (on.empty() ? "" : ", ") + a;
  host_.Info("forwarding host ports with the " + config_.backend + " backend" +
             (config_.backend == "nftables" ? " (table ip " + config_.table + ")" : "") + " on " +
             (on.empty() ? "every host address" : on) +
             (config_.loopback ? " and 127.0.0.0/8" : " (not 127.0.0.0/8)"));
}

Status PortForwarder::ValidateOptions(
    const std::vector<std::pair<std::string, std::string>>& options) {
  std::vector<PortForward> forwards;
  std::set<std::string> seen;
  for (const auto& [key, value] : options) {
    if (!IsProtocol(key)) {
      return Status::Invalid("unknown option '" + key + "'; it takes: tcp, udp (e.g. tcp=8080:80)");
    }
    if (!seen.insert(key).second) {
      return Status::Invalid("option " + key + " is given twice; list every forward in one, e.g. " +
                             key + "=8080:80,8443:443");
    }
    auto parsed = ParseForwards(key, value);
    if (!parsed.ok()) return parsed.status;
    forwards.insert(forwards.end(), parsed.value.begin(), parsed.value.end());
  }
  if (Status s = CheckNotClaimed(forwards); !s.ok()) return s;
  return CheckNotServed(forwards);
}

banger::Result<std::vector<PortForward>> PortForwarder::Forwards(std::string_view vm_id,
                                                                 bool recorded) const {
  std::vector<PortForward> all;
  for (const char* proto : kProtocols) {
    banger::Result<std::string> text{Status::FromCode(BANGER_NOT_FOUND, ""), {}};
    std::string source = "handle";
    if (recorded) text = host_.HandleGet(vm_id, proto);
    if (text.status.code() == BANGER_NOT_FOUND) {
      text = host_.Option(vm_id, proto);  // fixed at create: what prepare read
      source = "option";
    }
    if (text.status.code() == BANGER_NOT_FOUND) continue;  // nothing of this protocol
    if (!text.ok()) {
      return {Status::Error("read the " + std::string(proto) + " " + source + ": " +
                            text.status.message()),
              {}};
    }
    if (text.value.empty()) continue;  // recorded: none of this protocol
    auto parsed = ParseForwards(proto, text.value);
    if (!parsed.ok()) {
      return {Status::Error("the recorded " + source + " " + proto + " '" + text.value +
                            "' does not parse (" + parsed.status.message() + ")"),
              {}};
    }
    all.insert(all.end(), parsed.value.begin(), parsed.value.end());
  }
  return {Status::Ok(), std::move(all)};
}

Status PortForwarder::CheckNotClaimed(const std::vector<PortForward>& forwards) const {
  if (forwards.empty()) return Status::Ok();
  // The VM being created is not listed yet: every VM here is another one,
  // whatever its state (its options claim the port for its whole life).
  auto vms = ListVms(host_);
  if (!vms.ok())
    return Status::Error("cannot list the VMs to check their forwards: " + vms.status.message());
  for (const auto& vm : vms.value) {
    for (const char* proto : kProtocols) {
      auto claimed = host_.Option(vm.id, proto);
      if (claimed.status.code() == BANGER_NOT_FOUND) continue;  // none, or removed since
      if (!claimed.ok()) {
        return Status::Error("cannot read vm \"" + vm.name + "\"'s " + proto +
                             " option: " + claimed.status.message());
      }
      auto theirs = ParseForwards(proto, claimed.value);
      for (const auto& f : forwards) {
        for (const auto& t : theirs.value) {
          if (f.proto == t.proto && f.host_port == t.host_port) {
            return Status::Invalid(HostPortText(f) + " is already forwarded to vm \"" + vm.name +
                                   "\"");
          }
        }
      }
    }
  }
  return Status::Ok();
}

std::string PortForwarder::VmWithGuestIp(const std::string& ip, std::string_view except_id) const {
  auto vms = ListVms(host_);
  for (const auto& vm : vms.value) {
    if (vm.id == except_id) continue;
    auto theirs = host_.HandleFind(vm.id, "guest_ip");
    if (theirs.ok() && theirs.value == ip) return vm.name;
  }
  return "";
}

Status PortForwarder::CheckNotForwarded(const std::vector<PortForward>& forwards,
                                        const std::string& guest_ip, std::string_view vm_id) const {
  for (const auto& f : forwards) {
    auto now = backend_->Destination(f);
    if (!now.ok()) return Status::Error(now.status.message());
    if (now.value.empty() || now.value == guest_ip + ":" + std::to_string(f.guest_port)) continue;
    std::string owner = VmWithGuestIp(now.value.substr(0, now.value.rfind(':')), vm_id);
    return Status::Error(HostPortText(f) + " is already forwarded to " +
                         (owner.empty() ? now.value + ", which no VM records (a leftover: remove "
                                                      "it by hand)"
                                        : "vm \"" + owner + "\" (" + now.value + ")"));
  }
  return Status::Ok();
}

Status PortForwarder::Reserve(const banger::Vm& vm) {
  auto forwards = Forwards(vm.id(), false);
  if (!forwards.ok()) return forwards.status;
  if (forwards.value.empty()) return Status::Ok();  // no portfwd options: nothing to forward
  auto ip = host_.HandleGet(vm.id(), "guest_ip", "tap");
  if (!ip.ok()) return Status::Error("no guest IP from the tap capability: " + ip.status.message());
  if (!ValidIpv4(ip.value)) {
    return Status::Error("tap's guest_ip '" + ip.value +
                         "' is not an IPv4 address; refusing to use it");
  }
  if (Status s = CheckNotServed(forwards.value); !s.ok()) return Status::Error(s.message());
  if (Status s = CheckNotForwarded(forwards.value, ip.value, vm.id()); !s.ok()) return s;
  // Identity first: portfwd's own record of what prepare is about to add.
  std::vector<std::pair<std::string, std::string>> record{{"guest_ip", ip.value}};
  for (const char* proto : kProtocols) {
    std::vector<PortForward> of_proto;
    for (const auto& f : forwards.value) {
      if (f.proto == proto) of_proto.push_back(f);
    }
    record.emplace_back(proto, FormatForwards(of_proto));
  }
  if (Status s = host_.HandleSetMany(vm.id(), record); !s.ok()) {
    return Status::Error("record the forwards: " + s.message());
  }
  return Status::Ok();
}

Status PortForwarder::Prepare(const banger::Vm& vm) {
  auto options = Forwards(vm.id(), false);
  if (!options.ok()) return options.status;
  if (options.value.empty()) return Status::Ok();  // no portfwd options: nothing to forward
  auto ip = host_.HandleFind(vm.id(), "guest_ip");
  if (ip.status.code() == BANGER_NOT_FOUND) {
    // No reserve before (a host without the hook): reserve now.
    if (Status s = Reserve(vm); !s.ok()) return s;
    ip = host_.HandleFind(vm.id(), "guest_ip");
  }
  if (!ip.ok()) return Status::Error("read the reserved guest_ip: " + ip.status.message());
  auto forwards = Forwards(vm.id(), true);  // as reserved
  if (!forwards.ok()) return forwards.status;
  std::string summary;
  for (const char* proto : kProtocols) {
    std::vector<PortForward> of_proto;
    for (const auto& f : forwards.value) {
      if (f.proto == proto) of_proto.push_back(f);
    }
    if (!of_proto.empty()) {
      summary += std::string(summary.empty() ? "" : " ") + proto + " " + FormatForwards(of_proto);
    }
  }
  if (Status s = backend_->Add(ip.value, forwards.value); !s.ok()) {
    // A port another VM's start took since the check (the kernel refused
    // our element): say whose.
    if (Status taken = CheckNotForwarded(forwards.value, ip.value, vm.id()); !taken.ok()) {
      return taken;
    }
    return Status::Error(s.message());
  }
  host_.Info("vm \"" + std::string(vm.name()) + "\": " + summary + " forward to " + ip.value);
  return Status::Ok();
}

Status PortForwarder::Cleanup(const banger::Vm& vm) {
  const std::string who = "cleanup vm \"" + std::string(vm.name()) + "\"";
  auto forwards = Forwards(vm.id(), true);  // portfwd's own handles, then the options
  if (!forwards.ok()) return forwards.status;
  if (forwards.value.empty()) return Status::Ok();  // it never forwarded anything
  auto ip = host_.HandleGet(vm.id(), "guest_ip");   // portfwd's own first
  if (!ip.ok() && ip.status.code() == BANGER_NOT_FOUND) {
    std::string own = ip.status.message();
    ip = host_.HandleGet(vm.id(), "guest_ip", "tap");  // then the tap capability's
    if (!ip.ok() && ip.status.code() == BANGER_NOT_FOUND) {
      host_.Info(who + ": no tap was ever allocated for this VM (portfwd: " + own +
                 "; tap: " + ip.status.message() + "): nothing to remove");
      return Status::Ok();
    }
  }
  if (!ip.ok()) return Status::Error(ip.status.message());
  if (!ValidIpv4(ip.value)) {
    return Status::Error("recorded guest_ip '" + ip.value +
                         "' is not an IPv4 address; refusing to use it");
  }
  if (Status s = backend_->Remove(ip.value, forwards.value); !s.ok()) {
    return Status::Error(s.message());
  }
  return Status::Ok();
}

}  // namespace portfwdcap
