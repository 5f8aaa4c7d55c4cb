// Who may talk to the control socket: root, the agent's own uid, and members
// of the configured socket group (primary or supplementary group of the
// connecting process, read from /proc/<pid>/status at connect time).
// Stateless and thread-safe.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <optional>
#include <string>

namespace banger::core {

struct PeerPolicy {
  uid_t agent_uid = 0;
  std::optional<gid_t> group;  // core.socket_group, resolved
};

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// SO_PEERCRED of a connected UNIX socket; nullopt if it cannot be read.
std::optional<PeerCredentials> ReadPeerCredentials(int fd);

// True when `peer` may use the API under `policy`.
bool PeerAllowed(const PeerCredentials& peer, const PeerPolicy& policy);

// Resolves a group name; nullopt when there is no such group.
std::optional<gid_t> LookupGroup(const std::string& name);

}  // namespace banger::core
