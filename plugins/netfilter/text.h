// Small text helpers of the netfilter tools' output.
#pragma once

#include <string>

namespace netfilter {

// The first line of `s`: what nft and iptables say first is what failed.
inline std::string FirstLine(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace netfilter
