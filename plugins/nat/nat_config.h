// The [nat] section: backend, uplink, nft table name.
#pragma once

#include <string>

#include <banger/capability.hpp>

namespace natcap {

struct NatConfig {
  std::string backend = "nftables";  // or "iptables"
  std::string uplink;                // "" until resolved: the default route's interface
  std::string table = "banger";
};

extern const banger_config_key kNatConfigKeys[];

// Reads and checks the section; an empty uplink is resolved to the interface
// of the default route. Error when a value is bad; Skip when there is no
// uplink to masquerade through.
banger::Result<NatConfig> ParseNatConfig(const banger::Host& host);

// Interface names that may reach a rule: [A-Za-z0-9_.-]{1,15}.
bool ValidIfName(const std::string& name);
bool ValidIpv4(const std::string& text);
// The interface of the IPv4 default route (/proc/net/route), or "".
std::string DefaultRouteInterface();

}  // namespace natcap
