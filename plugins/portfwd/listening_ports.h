// Whether a socket of this network namespace serves a port: a DNAT of that
// port would take its traffic (a forward of 22 would cut the host's SSH off),
// so portfwd refuses such a host port. Read from /proc/net/{tcp,udp}{,6}, no
// state, thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace portfwdcap {

// True when a TCP socket listens on `port`, or (proto "udp") an unconnected
// UDP socket is bound to it, on any address, IPv4 or IPv6. A table that
// cannot be read (no IPv6) counts as holding none.
bool PortServed(const std::string& proto, uint16_t port);

}  // namespace portfwdcap
