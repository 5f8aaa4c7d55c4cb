// Links and addresses over rtnetlink (NETLINK_ROUTE), without running `ip`:
// what a link is (its index, alias, whether it is up, who owns a TAP), every
// link at once, a link's state and alias in one request, its IPv4 addresses
// (added, asked for, flushed), deleting it. Each thread talks through a
// socket of its own, kept for the thread's life (a socket per request cost
// more than the request), and waits for the kernel's answer. Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <banger/capability.hpp>

namespace tapcap {

// One link as the kernel describes it (RTM_NEWLINK).
struct LinkInfo {
  int index = 0;
  std::string name;
  std::string alias;  // IFLA_IFALIAS; "" when none
  bool up = false;    // IFF_UP
  // A TUN/TAP device's owner (IFLA_TUN_OWNER); nullopt for other links and
  // for a TAP without one.
  std::optional<uid_t> tun_owner;
  // IFLA_CARRIER_CHANGES: each open and close of a TAP descriptor moves it
  // (what tests check to see that nothing opened the device).
  uint32_t carrier_changes = 0;
};

// The link named `ifname`, or nullopt when there is none. When the kernel
// could not be asked (no socket, an error other than "no such device"),
// nullopt too, with the errno in *error (if given; else it reads as none).
std::optional<LinkInfo> GetLink(const std::string& ifname, int* error = nullptr);
// Every link of the namespace, in one dump.
std::vector<LinkInfo> ListLinks();

// OK, or Error naming the link and the errno text. `index` is LinkInfo::index.
// Up or down and the alias (IFLA_IFALIAS, `ip link set dev X alias Y`: tap
// writes the id of the VM a device serves there, so the device says whose it
// is; "" removes it), in one request.
banger::Status SetLinkState(const LinkInfo& link, bool up, const std::string& alias);
banger::Status AddIpv4Address(const LinkInfo& link, uint32_t addr_host_order, int prefix_len);
banger::Status FlushIpv4Addresses(const LinkInfo& link);
// True when the link carries an IPv4 address. The kernel filters the dump by
// the link (strict checking): the cost does not grow with the addresses of
// other links.
bool HasIpv4Address(const LinkInfo& link);
// A link already gone is OK.
banger::Status DeleteLink(const std::string& ifname);

}  // namespace tapcap
