#include "plugins/portfwd/portfwd_config.h"

#include <arpa/inet.h>

#include <algorithm>

namespace portfwdcap {

const banger_config_key kPortfwdConfigKeys[] = {
    {"backend", "nftables",
     "nftables (in-process, a table of our own) or iptables (exec, for hosts where Docker owns "
     "FORWARD)"},
    {"table", "banger_portfwd",
     "name of the nftables table portfwd owns (nftables backend; not nat's table)"},
    {"addresses", "",
     "comma-separated host IPv4 addresses whose ports forward; empty: every address of the host "
     "but 127.0.0.0/8"},
    {"loopback", "false",
     "true: connections from the host to 127.0.0.0/8 forward too (sets "
     "net.ipv4.conf.all.route_localnet = 1 and drops 127.0.0.0/8 arriving from outside)"},
    {nullptr, nullptr, nullptr},
};

namespace {

// An nft identifier that needs no quoting, short enough for any kernel.
bool ValidTableName(const std::string& n) {
  if (n.empty() || n.size() > 32) return false;
  if (!((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= 'A' && n[0] <= 'Z'))) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string Trimmed(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<std::string> ParseAddresses(const std::string& text) {
  std::vector<std::string> out;
  if (Trimmed(text).empty()) return out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string a = Trimmed(text.substr(start, comma == std::string::npos ? comma : comma - start));
    start = comma == std::string::npos ? text.size() + 1 : comma + 1;
    if (!ValidIpv4(a) || a == "0.0.0.0") {
      throw banger::ConfigError("addresses", "'" + a +
                                                 "' is not a host IPv4 address; write them like "
                                                 "192.0.2.10, 198.51.100.7");
    }
    if (IsLoopback(a)) {
      throw banger::ConfigError("addresses", "'" + a +
                                                 "' is a loopback address; set loopback = true "
                                                 "to forward 127.0.0.0/8");
    }
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  return out;
}

}  // namespace

bool ValidIpv4(const std::string& text) {
  in_addr a{};
  return inet_pton(AF_INET, text.c_str(), &a) == 1;
}

bool IsLoopback(const std::string& text) {
  return text.rfind("127.", 0) == 0;
}

PortfwdConfig ParsePortfwdConfig(const banger::Host& host) {
  PortfwdConfig c;
  c.backend = host.ConfigOr("backend", c.backend);
  if (c.backend != "nftables" && c.backend != "iptables") {
    throw banger::ConfigError("backend", "'" + c.backend + "' must be nftables or iptables");
  }
  c.table = host.ConfigOr("table", c.table);
  if (!ValidTableName(c.table)) {
    throw banger::ConfigError("table", "'" + c.table +
                                           "' is not a table name: a letter, then up to 31 "
                                           "letters, digits or '_'");
  }
  c.addresses = ParseAddresses(host.ConfigOr("addresses", ""));
  std::string loopback = host.ConfigOr("loopback", "false");
  if (loopback != "true" && loopback != "false") {
    throw banger::ConfigError("loopback", "'" + loopback + "' must be true or false");
  }
  c.loopback = loopback == "true";
  return c;
}

}  // namespace portfwdcap
