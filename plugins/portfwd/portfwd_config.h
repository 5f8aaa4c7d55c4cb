// The [portfwd] section: backend, nft table name, the host addresses that
// forward, and whether 127.0.0.0/8 forwards too.
#pragma once

#include <string>
#include <vector>

#include <banger/capability.hpp>

namespace portfwdcap {

struct PortfwdConfig {
  std::string backend = "nftables";  // or "iptables"
  std::string table = "banger_portfwd";
  // Host addresses whose ports forward; empty: every address of the host
  // (the kernel's local routes) except 127.0.0.0/8.
  std::vector<std::string> addresses;
  // Connections from the host itself to 127.0.0.0/8 forward too; needs
  // net.ipv4.conf.all.route_localnet = 1 (see README).
  bool loopback = false;
};

extern const banger_config_key kPortfwdConfigKeys[];

// Reads and checks the section; throws banger::ConfigError naming the key for
// a bad value.
PortfwdConfig ParsePortfwdConfig(const banger::Host& host);

// A dotted-quad IPv4 address ("10.0.0.2"), as inet_pton reads one.
bool ValidIpv4(const std::string& text);
// Inside 127.0.0.0/8. Precondition: ValidIpv4(text).
bool IsLoopback(const std::string& text);

}  // namespace portfwdcap
