// Link and address changes over rtnetlink (NETLINK_ROUTE), without running
// `ip`: set a link up or down, add an IPv4 address, flush a link's IPv4
// addresses, delete a link. Each call opens its own socket and waits for the
// kernel's acknowledgement. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>

#include <banger/capability.hpp>

namespace tapcap {

// OK, or Error naming the link and the errno text.
banger::Status SetLinkUp(const std::string& ifname, bool up);
banger::Status AddIpv4Address(const std::string& ifname, uint32_t addr_host_order, int prefix_len);
banger::Status FlushIpv4Addresses(const std::string& ifname);
banger::Status DeleteLink(const std::string& ifname);
bool LinkExists(const std::string& ifname);
// The link's alias (IFLA_IFALIAS, `ip link set dev X alias Y`): tap writes
// the id of the VM a device serves there, so the device itself says whose it
// is. "" when none (or no such link).
banger::Status SetLinkAlias(const std::string& ifname, const std::string& alias);
std::string LinkAlias(const std::string& ifname);
// True when the link carries an IPv4 address (getifaddrs).
bool HasIpv4Address(const std::string& ifname);

}  // namespace tapcap
