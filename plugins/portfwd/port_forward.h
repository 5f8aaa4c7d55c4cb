// PortForward: one host port forwarded to a guest port, and the per-VM
// options that list them: `--opt portfwd.tcp=8080:80,8443:443` (and `udp`),
// HOSTPORT:GUESTPORT entries separated by commas. The same text, normalised,
// is what portfwd records as its `tcp` and `udp` handles. Plain values; no
// state, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <banger/capability.hpp>

namespace portfwdcap {

struct PortForward {
  std::string proto;  // "tcp" or "udp"
  uint16_t host_port = 0;
  uint16_t guest_port = 0;
};

// The option keys, which are also the protocols: "tcp", "udp".
inline constexpr const char* kProtocols[] = {"tcp", "udp"};
bool IsProtocol(std::string_view key);

// Parses the value of option `proto`: HOSTPORT:GUESTPORT[,HOSTPORT:GUESTPORT...],
// ports 1 to 65535 in plain decimal, each host port at most once. INVALID with
// one line naming the entry at fault and the expected form.
banger::Result<std::vector<PortForward>> ParseForwards(std::string_view proto,
                                                       std::string_view text);

// The normalised option text of `forwards` (their protocol is not written):
// "8080:80,8443:443"; "" for none.
std::string FormatForwards(const std::vector<PortForward>& forwards);

// "tcp host port 8080": how messages name a forward.
std::string HostPortText(const PortForward& f);

}  // namespace portfwdcap
