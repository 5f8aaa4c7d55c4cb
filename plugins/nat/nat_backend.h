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
#include <mutex>
#include <string>

#include <banger/capability.hpp>

#include "plugins/nat/nat_config.h"

struct nft_ctx;

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
  ~NftablesBackend() override;
  banger::Status Setup() override;
  banger::Status Add(const std::string& guest_ip, const std::string& tap) override;
  banger::Status Remove(const std::string& guest_ip, const std::string& tap) override;

 private:
  banger::Status Run(const std::string& commands);
  NatConfig config_;
  std::mutex mu_;  // an nft context is not thread-safe
  nft_ctx* ctx_ = nullptr;
};

class IptablesBackend : public NatBackend {
 public:
  IptablesBackend(NatConfig config, banger::Host host) : config_(std::move(config)), host_(host) {}
  banger::Status Setup() override;
  banger::Status Add(const std::string& guest_ip, const std::string& tap) override;
  banger::Status Remove(const std::string& guest_ip, const std::string& tap) override;

 private:
  // The three rules, each as {table, chain, match...}.
  std::vector<std::vector<std::string>> Rules(const std::string& guest_ip,
                                              const std::string& tap) const;
  // -C: true when the rule exists.
  banger::Result<bool> Exists(const std::vector<std::string>& rule);
  banger::Status Change(const char* op, const std::vector<std::string>& rule);
  NatConfig config_;
  banger::Host host_;
};

std::unique_ptr<NatBackend> MakeBackend(const NatConfig& config, banger::Host host);

}  // namespace natcap
