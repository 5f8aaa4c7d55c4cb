// How host ports reach a VM: a DNAT of (protocol, host port) to (guest IP,
// guest port) for traffic arriving at the host's addresses and for the
// host's own connections to them, and a forward accept for the DNAT'ed
// flows. Two backends:
//  - NftablesBackend: in-process (libnftables), a table of its own whose
//    static chains look the destination up in two maps, fwd_tcp and fwd_udp,
//    of `host port : guest IP . guest port`; a forward is one element, and a
//    VM's elements are added or removed in one atomic batch. The kernel
//    refuses an element whose port another value holds, so two VMs can never
//    share a host port, whatever the race.
//  - IptablesBackend: `iptables -w` run from an argv (no shell) through the
//    host's exec service; -C before -A, and -C before -D. Every rule carries
//    the comment banger-portfwd, by which Destination finds them.
// Both are idempotent: adding what exists and removing what is gone succeed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <banger/capability.hpp>

#include "plugins/netfilter/iptables.h"
#include "plugins/netfilter/nft_session.h"
#include "plugins/portfwd/port_forward.h"
#include "plugins/portfwd/portfwd_config.h"

namespace portfwdcap {

class PortfwdBackend {
 public:
  virtual ~PortfwdBackend() = default;
  // Called once at init: the static part (table, maps, chains). Skip when the
  // backend cannot run on this host.
  virtual banger::Status Setup() = 0;
  // Forwards each of `forwards` to guest_ip. A port already forwarded
  // elsewhere fails the call (nftables: nothing is added then).
  virtual banger::Status Add(const std::string& guest_ip,
                             const std::vector<PortForward>& forwards) = 0;
  // Removes what Add made for guest_ip; a forward already gone, or whose port
  // now forwards to another destination (not ours), is left as it is.
  virtual banger::Status Remove(const std::string& guest_ip,
                                const std::vector<PortForward>& forwards) = 0;
  // Where f's host port forwards to now, "IP:PORT", or "" when nowhere.
  virtual banger::Result<std::string> Destination(const PortForward& f) = 0;
};

class NftablesBackend : public PortfwdBackend {
 public:
  explicit NftablesBackend(PortfwdConfig config);
  banger::Status Setup() override;
  banger::Status Add(const std::string& guest_ip,
                     const std::vector<PortForward>& forwards) override;
  banger::Status Remove(const std::string& guest_ip,
                        const std::vector<PortForward>& forwards) override;
  banger::Result<std::string> Destination(const PortForward& f) override;

 private:
  // Runs one batch (all or nothing); the output of list/get commands.
  banger::Result<std::string> Run(const std::string& commands) { return nft_.Run(commands); }
  std::string Declarations() const;  // the table and its maps, idempotent
  std::string Element(const std::string& guest_ip, const PortForward& f) const;
  PortfwdConfig config_;
  netfilter::NftSession nft_;
};

class IptablesBackend : public PortfwdBackend {
 public:
  IptablesBackend(PortfwdConfig config, banger::Host host)
      : config_(std::move(config)), iptables_(host) {}
  banger::Status Setup() override;
  banger::Status Add(const std::string& guest_ip,
                     const std::vector<PortForward>& forwards) override;
  banger::Status Remove(const std::string& guest_ip,
                        const std::vector<PortForward>& forwards) override;
  banger::Result<std::string> Destination(const PortForward& f) override;

 private:
  // The rules of `forwards`, each as {table, chain, match...}; a rule two
  // forwards share (the guest port's accept) once.
  std::vector<netfilter::IptablesRule> Rules(const std::string& guest_ip,
                                             const std::vector<PortForward>& forwards) const;
  PortfwdConfig config_;
  netfilter::Iptables iptables_;
};

std::unique_ptr<PortfwdBackend> MakeBackend(const PortfwdConfig& config, banger::Host host);

}  // namespace portfwdcap
