// Switches under /proc/sys, in the caller's network namespace.
#pragma once

#include <string>

namespace netfilter {

// Sets /proc/sys/`name` (like "net/ipv4/ip_forward") to 1; says what it
// found ("enabled net.ipv4.ip_forward (was 0)"). Throws std::runtime_error
// when it cannot.
std::string EnableSysctl(const std::string& name);

}  // namespace netfilter
