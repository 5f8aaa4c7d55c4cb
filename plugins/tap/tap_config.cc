#include "plugins/tap/tap_config.h"

#include <arpa/inet.h>

#include <cstdlib>

namespace tapcap {

const banger_config_key kTapConfigKeys[] = {
    {"prefix", "bt", "name prefix of the TAP devices: <prefix><slot>, at most 15 characters"},
    {"pool_size", "64", "TAP devices kept warm; also how many VMs can have a network at once"},
    {"cidr", "172.16.0.0/16", "addresses for VMs: slot n owns the n-th /30 (host .1, guest .2)"},
    {"owner_uid", "0", "uid the VMM runs as; it owns the TAP devices"},
    {nullptr, nullptr, nullptr},
};

std::string Ipv4Text(uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

namespace {

bool ParseUint(const std::string& s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 10) return false;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (*end != '\0' || v > max) return false;
  *out = v;
  return true;
}

}  // namespace

banger::Result<TapConfig> ParseTapConfig(const banger::Host& host) {
  TapConfig c;
  // A bad value is the operator's to fix: reported at the key's line.
  auto fail = [](const char* key, const std::string& why) -> banger::Result<TapConfig> {
    throw banger::ConfigError(key, why);
  };
  c.prefix = host.ConfigOr("prefix", c.prefix);
  bool prefix_ok = !c.prefix.empty() && c.prefix[0] >= 'a' && c.prefix[0] <= 'z';
  for (char ch : c.prefix) {
    prefix_ok = prefix_ok && ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-');
  }
  if (!prefix_ok) return fail("prefix", "'" + c.prefix + "' must be [a-z][a-z0-9-]*");

  uint64_t v = 0;
  std::string pool = host.ConfigOr("pool_size", "64");
  if (!ParseUint(pool, 1u << 20, &v) || v == 0) {
    return fail("pool_size", "'" + pool + "' must be a whole number from 1");
  }
  c.pool_size = static_cast<uint32_t>(v);
  std::string longest = c.prefix + std::to_string(c.pool_size - 1);
  if (longest.size() > 15) {
    return fail("prefix", "'" + c.prefix + "' with pool_size " + pool +
                              " makes device names like " + longest + " (" +
                              std::to_string(longest.size()) +
                              " characters; Linux allows 15): shorten the prefix");
  }

  std::string cidr = host.ConfigOr("cidr", "172.16.0.0/16");
  auto slash = cidr.find('/');
  in_addr a{};
  uint64_t len = 0;
  if (slash == std::string::npos || inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &a) != 1 ||
      !ParseUint(cidr.substr(slash + 1), 30, &len)) {
    return fail("cidr", "'" + cidr + "' is not an IPv4 CIDR like 172.16.0.0/16");
  }
  c.cidr_prefix = static_cast<int>(len);
  uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
  c.cidr_base = ntohl(a.s_addr) & mask;
  uint64_t slots = uint64_t{1} << (32 - len - 2);
  if (slots < c.pool_size) {
    return fail("cidr", cidr + " holds " + std::to_string(slots) +
                            " /30 slots, fewer than pool_size " + pool +
                            ": widen the cidr or shrink the pool");
  }

  std::string uid = host.ConfigOr("owner_uid", "0");
  if (!ParseUint(uid, 0xFFFFFFFEu, &v)) return fail("owner_uid", "'" + uid + "' is not a uid");
  c.owner_uid = static_cast<uid_t>(v);
  return {banger::Status::Ok(), c};
}

}  // namespace tapcap
