// The [tap] section: pool size, device name prefix, address plan, owner.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include <banger/capability.hpp>

namespace tapcap {

struct TapConfig {
  std::string prefix = "bt";        // devices are <prefix><slot>
  uint32_t pool_size = 64;          // slots (and warm devices): VMs with a network at once
  uint32_t cidr_base = 0xAC100000;  // 172.16.0.0
  int cidr_prefix = 16;             // slot n owns the n-th /30 of the CIDR
  uid_t owner_uid = 0;              // the uid the VMM runs as (TUNSETOWNER)
};

// The documented keys (descriptor's config_keys).
extern const banger_config_key kTapConfigKeys[];

// Reads and checks the section. Errors name the key: a bad value, a prefix
// whose longest device name exceeds 15 characters, a CIDR with fewer /30s
// than pool_size.
banger::Result<TapConfig> ParseTapConfig(const banger::Host& host);

// "172.16.0.1"
std::string Ipv4Text(uint32_t host_order);

}  // namespace tapcap
