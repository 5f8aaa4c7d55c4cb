#include "core/api/peer_credentials.h"

#include <grp.h>

#include <fstream>
#include <sstream>
#include <vector>

namespace banger::core {

std::optional<PeerCredentials> ReadPeerCredentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

namespace {

// Supplementary groups of a live process ("Groups:" of /proc/PID/status).
bool ProcessHasGroup(pid_t pid, gid_t group) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Groups:", 0) != 0) continue;
    std::istringstream groups(line.substr(7));
    long g;
    while (groups >> g) {
      if (static_cast<gid_t>(g) == group) return true;
    }
    return false;
  }
  return false;
}

}  // namespace

bool PeerAllowed(const PeerCredentials& peer, const PeerPolicy& policy) {
  if (peer.uid == 0 || peer.uid == policy.agent_uid) return true;
  if (!policy.group) return false;
  return peer.gid == *policy.group || (peer.pid > 0 && ProcessHasGroup(peer.pid, *policy.group));
}

std::optional<gid_t> LookupGroup(const std::string& name) {
  std::vector<char> buf(16384);
  struct group gr, *found = nullptr;
  if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return found->gr_gid;
}

}  // namespace banger::core
