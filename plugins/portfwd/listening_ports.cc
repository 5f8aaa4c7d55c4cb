#include "plugins/portfwd/listening_ports.h"

#include <cstdio>
#include <fstream>
#include <sstream>

namespace portfwdcap {

namespace {

// TCP_LISTEN; TCP_CLOSE, which is how an unconnected UDP socket shows.
constexpr const char* kTcpListen = "0A";
constexpr const char* kUdpUnconnected = "07";

// "0100007F:1F90" -> 0x1F90; "" for a malformed field.
std::string PortHex(const std::string& address) {
  auto colon = address.rfind(':');
  return colon == std::string::npos ? "" : address.substr(colon + 1);
}

bool ServedIn(const std::string& path, bool tcp, uint16_t port) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  char want[5];
  std::snprintf(want, sizeof want, "%04X", port);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string slot, local, remote, state;
    f >> slot >> local >> remote >> state;
    if (PortHex(local) != want) continue;
    if (tcp && state == kTcpListen) return true;
    // A connected UDP socket (a client's) has a remote port; a server's not.
    if (!tcp && state == kUdpUnconnected && PortHex(remote) == "0000") return true;
  }
  return false;
}

}  // namespace

bool PortServed(const std::string& proto, uint16_t port) {
  const bool tcp = proto == "tcp";
  const std::string base = "/proc/net/" + proto;
  return ServedIn(base, tcp, port) || ServedIn(base + "6", tcp, port);
}

}  // namespace portfwdcap
