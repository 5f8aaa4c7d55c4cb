// The JSON the control API and `bangerctl caps` show for capabilities:
// one object per plugin (name, version, abi, status, reason, requires, hooks,
// path, description, config keys with values, verbs, per-hook counters, last
// error) and the listing that wraps them. Pure functions of the registry.
#pragma once

#include <string>

#include "core/plugin_host/plugin_registry.h"
#include "core/plugin_host/verb_registry.h"

namespace banger::core {

// One capability; `verbs` may be null (offline mode has none).
std::string CapabilityReport(const Plugin& plugin, const VerbRegistry* verbs);

// {"agent_abi": "1.0", "capabilities": [...], "warnings": [...]}; `offline`
// marks a listing where no init ran.
std::string CapabilitiesReport(const PluginRegistry& registry, const VerbRegistry* verbs,
                               bool offline);

}  // namespace banger::core
