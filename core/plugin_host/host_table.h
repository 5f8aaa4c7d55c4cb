// HostTable: builds and owns the banger_host table each capability gets at
// init, and answers its calls: log, config, exec and verb registration here;
// handles, VMs, VMM contributions, stop and stats through an attached
// VmBackend (BANGER_UNAVAILABLE, with a message saying so, until one is
// attached). Tables stay valid for the life of this object, which outlives
// every capability's shutdown. Thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "banger/capability.h"
#include "core/base/logger.h"
#include "core/plugin_host/figure_catalog.h"
#include "core/plugin_host/plugin_registry.h"
#include "core/plugin_host/verb_registry.h"
#include "core/plugin_host/vm_backend.h"

namespace banger::core {

class HostTable {
 public:
  HostTable(const Logger& logger, VerbRegistry& verbs) : logger_(logger), verbs_(verbs) {}
  HostTable(const HostTable&) = delete;
  HostTable& operator=(const HostTable&) = delete;

  // Not owned; must outlive this object. Attach before init.
  void AttachVmBackend(VmBackend* vm) { vm_.store(vm); }
  // Where each capability's own directory is made (<root>/<name>, 0700),
  // before its table is handed out. None set: banger_host.state_dir is "".
  void SetStateRoot(std::string root) { state_root_ = std::move(root); }

  // The table handed to `plugin`'s init (created on first use).
  const banger_host* TableFor(Plugin& plugin);
  // verb_register is accepted only while this is true for the plugin.
  void SetInInit(Plugin& plugin, bool in_init);

  // Internal: one context per capability; banger_host.ctx points here.
  struct Context {
    HostTable* table_owner = nullptr;
    Plugin* plugin = nullptr;
    std::atomic<bool> in_init{false};
    std::string state_dir;
    banger_host table{};
  };
  const Logger& logger() const { return logger_; }
  // What figures_publish declared: the metrics exposition types by it.
  FigureCatalog& figures() { return figures_; }
  const FigureCatalog& figures() const { return figures_; }
  VerbRegistry& verbs() { return verbs_; }
  VmBackend* vm() const { return vm_.load(); }

 private:
  const Logger& logger_;
  VerbRegistry& verbs_;
  std::atomic<VmBackend*> vm_{nullptr};
  std::string state_root_;
  FigureCatalog figures_;
  std::mutex mu_;
  std::map<const Plugin*, std::unique_ptr<Context>> contexts_;
};

}  // namespace banger::core
