#include "plugins/nat/nat_backend.h"

namespace natcap {

using banger::Status;

// ---- nftables ----

NftablesBackend::NftablesBackend(NatConfig config) : config_(std::move(config)) {}

Status NftablesBackend::Setup() {
  const std::string t = "ip " + config_.table;
  const std::string up = "\"" + config_.uplink + "\"";
  // Idempotent: the table, its set (and the VMs' elements in it, from before
  // a restart) are kept; the chains' rules are rewritten, so a changed
  // uplink takes effect. One batch: all or nothing.
  return Run("add table " + t + "\n" + "add set " + t + " egress { type ipv4_addr . ifname; }\n" +
             "add chain " + t +
             " postrouting { type nat hook postrouting priority srcnat; policy accept; }\n" +
             "add chain " + t +
             " forward { type filter hook forward priority filter; policy accept; }\n" +
             "flush chain " + t + " postrouting\n" + "flush chain " + t + " forward\n" +
             "add rule " + t + " postrouting ip saddr . iifname @egress oifname " + up +
             " masquerade\n" + "add rule " + t + " forward ip saddr . iifname @egress oifname " +
             up + " accept\n" + "add rule " + t + " forward ip daddr . oifname @egress iifname " +
             up + " ct state established,related accept\n");
}

Status NftablesBackend::Add(const std::string& guest_ip, const std::string& tap) {
  return Run("add element ip " + config_.table + " egress { " + guest_ip + " . \"" + tap +
             "\" }\n");
}

Status NftablesBackend::Remove(const std::string& guest_ip, const std::string& tap) {
  // Add then delete, in one atomic batch: the element ends up absent whether
  // or not it was there, so a removal is idempotent without a lookup.
  std::string element = "{ " + guest_ip + " . \"" + tap + "\" }";
  return Run("add element ip " + config_.table + " egress " + element + "\n" +
             "delete element ip " + config_.table + " egress " + element + "\n");
}

// ---- iptables ----

std::vector<netfilter::IptablesRule> IptablesBackend::Rules(const std::string& ip,
                                                            const std::string& tap) const {
  const std::string& up = config_.uplink;
  return {
      {"nat", "POSTROUTING", "-s", ip + "/32", "-o", up, "-j", "MASQUERADE"},
      {"filter", "FORWARD", "-i", tap, "-o", up, "-s", ip + "/32", "-j", "ACCEPT"},
      {"filter", "FORWARD", "-i", up, "-o", tap, "-d", ip + "/32", "-m", "conntrack", "--ctstate",
       "RELATED,ESTABLISHED", "-j", "ACCEPT"},
  };
}

Status IptablesBackend::Setup() {
  return iptables_.Available();
}

Status IptablesBackend::Add(const std::string& guest_ip, const std::string& tap) {
  return iptables_.AppendMissing(Rules(guest_ip, tap));
}

Status IptablesBackend::Remove(const std::string& guest_ip, const std::string& tap) {
  return iptables_.DeletePresent(Rules(guest_ip, tap));
}

std::unique_ptr<NatBackend> MakeBackend(const NatConfig& config, banger::Host host) {
  if (config.backend == "iptables") return std::make_unique<IptablesBackend>(config, host);
  return std::make_unique<NftablesBackend>(config);
}

}  // namespace natcap
