#include "plugins/nat/nat_config.h"

#include <arpa/inet.h>

#include <fstream>
#include <sstream>

namespace natcap {

const banger_config_key kNatConfigKeys[] = {
    {"backend", "nftables",
     "nftables (in-process, a table of our own) or iptables (exec, for hosts where Docker owns "
     "FORWARD)"},
    {"uplink", "", "interface guests reach the outside through; empty: the default route's"},
    {"table", "banger", "name of the nftables table banger owns (nftables backend)"},
    {nullptr, nullptr, nullptr},
};

bool ValidIfName(const std::string& n) {
  if (n.empty() || n.size() > 15) return false;
  for (char c : n) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool ValidIpv4(const std::string& text) {
  in_addr a{};
  return inet_pton(AF_INET, text.c_str(), &a) == 1;
}

std::string DefaultRouteInterface() {
  std::ifstream in("/proc/net/route");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string iface, dest, gateway, flags, refcnt, use, metric, mask;
    f >> iface >> dest >> gateway >> flags >> refcnt >> use >> metric >> mask;
    if (dest == "00000000" && mask == "00000000") return iface;
  }
  return "";
}

banger::Result<NatConfig> ParseNatConfig(const banger::Host& host) {
  NatConfig c;
  c.backend = host.ConfigOr("backend", c.backend);
  if (c.backend != "nftables" && c.backend != "iptables") {
    throw banger::ConfigError("backend", "'" + c.backend + "' must be nftables or iptables");
  }
  c.table = host.ConfigOr("table", c.table);
  if (!ValidIfName(c.table))
    throw banger::ConfigError("table", "'" + c.table + "' is not a valid name");
  c.uplink = host.ConfigOr("uplink", "");
  if (c.uplink.empty()) {
    c.uplink = DefaultRouteInterface();
    if (c.uplink.empty()) {
      return {banger::Status::Skip("no uplink: this network namespace has no default route; set "
                                   "[nat] uplink to the interface guests should reach out through"),
              {}};
    }
  }
  if (!ValidIfName(c.uplink)) {
    throw banger::ConfigError("uplink", "'" + c.uplink + "' is not an interface name");
  }
  return {banger::Status::Ok(), c};
}

}  // namespace natcap
