#include "plugins/portfwd/port_forward.h"

#include <set>

namespace portfwdcap {

namespace {

std::string ExpectedForm(std::string_view proto) {
  const std::string p(proto);
  return "write HOSTPORT:GUESTPORT[,HOSTPORT:GUESTPORT...] with ports 1-65535, e.g. " + p +
         "=8080:80,8443:443";
}

// Plain decimal only: no sign, no spaces and no leading zero, so that one port
// has one spelling and a typo such as "080" is not silently read as 80.
bool ParsePort(std::string_view text, uint16_t* port) {
  if (text.empty() || text.size() > 5 || text[0] == '0') return false;
  uint32_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  if (n < 1 || n > 65535) return false;
  *port = static_cast<uint16_t>(n);
  return true;
}

}  // namespace

bool IsProtocol(std::string_view key) {
  for (const char* p : kProtocols) {
    if (key == p) return true;
  }
  return false;
}

banger::Result<std::vector<PortForward>> ParseForwards(std::string_view proto,
                                                       std::string_view text) {
  const std::string option = "option " + std::string(proto);
  auto refuse = [&](const std::string& why) -> banger::Result<std::vector<PortForward>> {
    return {banger::Status::Invalid(option + ": " + why + "; " + ExpectedForm(proto)), {}};
  };
  if (text.empty()) return refuse("it is empty");
  std::vector<PortForward> forwards;
  std::set<uint16_t> host_ports;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view entry = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    if (entry.empty())
      return refuse("an empty entry (a stray comma) in '" + std::string(text) + "'");
    size_t colon = entry.find(':');
    if (colon == std::string_view::npos || entry.find(':', colon + 1) != std::string_view::npos) {
      return refuse("'" + std::string(entry) + "' is not HOSTPORT:GUESTPORT");
    }
    PortForward f{std::string(proto), 0, 0};
    for (auto [part, port] : {std::pair{entry.substr(0, colon), &f.host_port},
                              std::pair{entry.substr(colon + 1), &f.guest_port}}) {
      if (!ParsePort(part, port)) {
        return refuse("'" + std::string(part) + "' in '" + std::string(entry) +
                      "' is not a port (1-65535, plain decimal)");
      }
    }
    if (!host_ports.insert(f.host_port).second) {
      return refuse("host port " + std::to_string(f.host_port) +
                    " is given twice (a host port forwards to one guest port)");
    }
    forwards.push_back(std::move(f));
  }
  return {banger::Status::Ok(), std::move(forwards)};
}

std::string FormatForwards(const std::vector<PortForward>& forwards) {
  std::string out;
  for (const auto& f : forwards) {
    if (!out.empty()) out += ',';
    out += std::to_string(f.host_port) + ":" + std::to_string(f.guest_port);
  }
  return out;
}

std::string HostPortText(const PortForward& f) {
  return f.proto + " host port " + std::to_string(f.host_port);
}

}  // namespace portfwdcap
