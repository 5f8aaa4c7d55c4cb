// The Prometheus text exposition (GET /v1/metrics, `bangerctl metrics`):
// every VM's stats as banger_vm_<name>{vm="..",id=".."}, typed and
// described as their capability declared them (`figures`; untyped ones are
// gauges), the VM count by state, and the agent's own figures: per
// capability and hook, calls, failures and time spent. Every family has
// HELP and TYPE. Pure function of its inputs.
#pragma once

#include <string>

#include "core/plugin_host/figure_catalog.h"
#include "core/plugin_host/plugin_registry.h"
#include "core/store/vm_store.h"

namespace banger::core {

std::string PrometheusText(const VmListing& vms, const PluginRegistry& registry,
                           const FigureCatalog& figures);

}  // namespace banger::core
