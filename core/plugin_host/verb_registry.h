// VerbRegistry: the control verbs capabilities registered (`health`,
// `stats`, ...: about one VM) and their commands (about the capability
// itself), and who answers each. Written during init, read by the
// control API. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/base/status.h"

namespace banger::core {

struct VerbInfo {
  std::string verb;
  std::string capability;
  std::string summary;
};

class VerbRegistry {
 public:
  // Names the core keeps for itself; a capability may not take them.
  static bool IsReserved(const std::string& verb);

  // Error when the verb is malformed, reserved or taken (naming the owner).
  Status Register(const std::string& verb, const std::string& capability,
                  const std::string& summary);
  std::optional<VerbInfo> Find(const std::string& verb) const;
  std::vector<VerbInfo> All() const;
  std::vector<VerbInfo> OfCapability(const std::string& capability) const;

  // Capability-wide commands (`bangerctl caps NAME VERB`): each under its
  // capability's name, so names need not differ across capabilities.
  Status RegisterCommand(const std::string& verb, const std::string& capability,
                         const std::string& summary);
  std::optional<VerbInfo> FindCommand(const std::string& capability, const std::string& verb) const;
  std::vector<VerbInfo> CommandsOf(const std::string& capability) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, VerbInfo> verbs_;
  std::map<std::pair<std::string, std::string>, VerbInfo> commands_;  // (capability, verb)
};

}  // namespace banger::core
