// Iptables: `iptables -w` run from an argv (no shell) through the host's
// exec service, rule by rule and idempotent: -C before -A, and -C before
// -D, so adding what exists and removing what is gone both succeed.
#pragma once

#include <string>
#include <vector>

#include <banger/capability.hpp>

namespace netfilter {

// A rule as {table, chain, match and target words...}.
using IptablesRule = std::vector<std::string>;

class Iptables {
 public:
  explicit Iptables(banger::Host host) : host_(host) {}

  // Skip when `iptables --version` does not run on this host.
  banger::Status Available();
  // Appends each rule not there yet, in order; stops at the first failure.
  banger::Status AppendMissing(const std::vector<IptablesRule>& rules);
  // Deletes each rule that is there; every failure is said, none stops the
  // others.
  banger::Status DeletePresent(const std::vector<IptablesRule>& rules);
  // `iptables -S chain` of `table`: the chain's rules as iptables prints them.
  banger::Result<std::string> List(const std::string& table, const std::string& chain);

 private:
  // -C: true when the rule exists.
  banger::Result<bool> Exists(const IptablesRule& rule);
  banger::Status Change(const char* op, const IptablesRule& rule);
  banger::Host host_;
};

}  // namespace netfilter
