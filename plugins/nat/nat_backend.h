// How a VM's egress is allowed: masquerade of its guest IP out the uplink,
// forward tap -> uplink, and uplink -> tap for established/related traffic
// (the three rules of Firecracker's network-setup guide). Two backends:
//  - NftablesBackend: in-process (libnftables), a table of its own whose
//    static chains match one set of (guest IP . tap) elements; a VM is one
//    element, added or removed in one atomic batch, whatever the VM count.
//  - IptablesBackend: `iptables -w` run from an argv (no shell) through the
//    host's exec service; -C before -A, and -C before -D.
// Both are idempotent: adding what exists and removing what is gone succeed.
#pragma once

#include <memory>
#include <string>

#include <banger/capability.hpp>

#include "plugins/nat/nat_config.h"
#include "plugins/netfilter/iptables.h"
#include "plugins/netfilter/nft_session.h"

namespace natcap {

class NatBackend {
 public:
  virtual ~NatBackend() = default;
  // Called once at init.
  virtual banger::Status Setup() = 0;
  virtual banger::Status Add(const std::string& guest_ip, const std::string& tap) = 0;
  virtual banger::Status Remove(const std::string& guest_ip, const std::string& tap) = 0;
};

class NftablesBackend : public NatBackend {
 public:
  explicit NftablesBackend(NatConfig config);
  banger::Status Setup() override;
  banger::Status Add(const std::string& guest_ip, const std::string& tap) override;
  banger::Status Remove(const std::string& guest_ip, const std::string& tap) override;

 private:
  banger::Status Run(const std::string& commands) { return nft_.Run(commands).status; }
  NatConfig config_;
  netfilter::NftSession nft_;
};

class IptablesBackend : public NatBackend {
 public:
  IptablesBackend(NatConfig config, banger::Host host)
      : config_(std::move(config)), iptables_(host) {}
  banger::Status Setup() override;
  banger::Status Add(const std::string& guest_ip, const std::string& tap) override;
  banger::Status Remove(const std::string& guest_ip, const std::string& tap) override;

 private:
  // The three rules.
  std::vector<netfilter::IptablesRule> Rules(const std::string& guest_ip,
                                             const std::string& tap) const;
  NatConfig config_;
  netfilter::Iptables iptables_;
};

std::unique_ptr<NatBackend> MakeBackend(const NatConfig& config, banger::Host host);

}  // namespace natcap
