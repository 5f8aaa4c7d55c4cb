#include "core/plugin_host/verb_registry.h"

#include <algorithm>
#include <array>

namespace banger::core {

bool VerbRegistry::IsReserved(const std::string& verb) {
  static const std::array<const char*, 12> kReserved = {"create", "start",  "stop", "kill",
                                                        "rm",     "remove", "ls",   "list",
                                                        "show",   "touch",  "logs", "ops"};
  return std::any_of(kReserved.begin(), kReserved.end(), [&](const char* r) { return verb == r; });
}

namespace {

bool WellFormed(const std::string& verb) {
  return !verb.empty() && verb.size() <= 32 && std::all_of(verb.begin(), verb.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

Status VerbRegistry::RegisterCommand(const std::string& verb, const std::string& capability,
                                     const std::string& summary) {
  if (!WellFormed(verb)) {
    return Status::Error("command '" + verb + "' is not of the form [a-z0-9-]{1,32}");
  }
  std::lock_guard lock(mu_);
  auto [it, inserted] =
      commands_.emplace(std::make_pair(capability, verb), VerbInfo{verb, capability, summary});
  if (!inserted) return Status::Error("command '" + verb + "' is already registered");
  return Status::Ok();
}

std::optional<VerbInfo> VerbRegistry::FindCommand(const std::string& capability,
                                                  const std::string& verb) const {
  std::lock_guard lock(mu_);
  auto it = commands_.find({capability, verb});
  if (it == commands_.end()) return std::nullopt;
  return it->second;
}

std::vector<VerbInfo> VerbRegistry::CommandsOf(const std::string& capability) const {
  std::lock_guard lock(mu_);
  std::vector<VerbInfo> out;
  for (const auto& [key, v] : commands_) {
    if (key.first == capability) out.push_back(v);
  }
  return out;
}

Status VerbRegistry::Register(const std::string& verb, const std::string& capability,
                              const std::string& summary) {
  if (!WellFormed(verb))
    return Status::Error("verb '" + verb + "' is not of the form [a-z0-9-]{1,32}");
  if (IsReserved(verb)) return Status::Error("verb '" + verb + "' is reserved by the agent");
  std::lock_guard lock(mu_);
  auto [it, inserted] = verbs_.emplace(verb, VerbInfo{verb, capability, summary});
  if (!inserted) {
    return Status::Error("verb '" + verb + "' is already registered by " + it->second.capability);
  }
  return Status::Ok();
}

std::optional<VerbInfo> VerbRegistry::Find(const std::string& verb) const {
  std::lock_guard lock(mu_);
  auto it = verbs_.find(verb);
  if (it == verbs_.end()) return std::nullopt;
  return it->second;
}

std::vector<VerbInfo> VerbRegistry::All() const {
  std::lock_guard lock(mu_);
  std::vector<VerbInfo> out;
  for (const auto& [_, v] : verbs_) out.push_back(v);
  return out;
}

std::vector<VerbInfo> VerbRegistry::OfCapability(const std::string& capability) const {
  std::vector<VerbInfo> out;
  for (auto& v : All()) {
    if (v.capability == capability) out.push_back(v);
  }
  return out;
}

}  // namespace banger::core
