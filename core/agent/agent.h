// Agent: bangerd's top level. Owns the parts and wires them: config ->
// state dir lock -> record store -> plugin registry (discover, load) -> hook
// dispatcher (init) -> VM lifecycle (reconcile) -> control server (routes) ->
// tick scheduler, periodic reconcile and store copies. Start once, Stop once, from the
// main thread; Stop undoes Start in reverse (ticks stop, the socket closes, shutdown hooks run in
// reverse load order, the socket file is removed).
#pragma once

#include <chrono>
#include <memory>

#include "core/agent/agent_config.h"
#include "core/api/control_server.h"
#include "core/api/route_table.h"
#include "core/base/logger.h"
#include "core/base/periodic_task.h"
#include "core/lifecycle/lifecycle_backend.h"
#include "core/lifecycle/operation_log.h"
#include "core/lifecycle/vm_lifecycle.h"
#include "core/plugin_host/hook_dispatcher.h"
#include "core/plugin_host/host_table.h"
#include "core/plugin_host/plugin_registry.h"
#include "core/plugin_host/tick_scheduler.h"
#include "core/plugin_host/verb_registry.h"
#include "core/store/handle_store.h"
#include "core/store/state_dir_lock.h"
#include "core/store/store_copies.h"
#include "core/store/vm_store.h"

namespace banger::core {

class Agent {
 public:
  Agent(AgentConfig config, Logger& logger);
  ~Agent();

  // Error (with the reason) when the agent cannot run: a bad state dir, a
  // required capability that did not come up, a socket that cannot be bound.
  Status Start();
  void Stop();
  // Ok when the agent does its work: the control socket's I/O thread runs a
  // task within `timeout` and the store answers a read. What a watchdog
  // pings on; the error says which part did not answer.
  Status Alive(std::chrono::milliseconds timeout) const;
  // "serving N VMs (M running) with K capabilities": a status line.
  std::string Summary() const;

 private:
  // The steps of Start, in order.
  void LogVersionAndVmm();
  Status OpenState();          // state dir, its lock, the store, handles
  Status LoadCapabilities();   // discover, load, the lifecycle, init
  Status Serve();              // the control socket, and the metrics listener if set
  void StartBackgroundWork();  // ticks, periodic reconcile, store copies
  void TakeStoreCopy(const char* why);
  void AddRoutes();
  // GET /v1/host, POST /v1/host/drain|undrain (agent_host.cc).
  void AddHostRoutes();
  HttpResponse HostReport() const;
  HttpResponse Drain();
  HttpResponse Undrain();
  std::string DrainMarker() const;
  void RestoreDraining();  // a drain outlives a restart: its marker file
  // POST /v1/capabilities/{name}/{verb}: a capability-wide command.
  HttpResponse RunCommand(const std::string& name, const std::string& verb,
                          const std::string& body);
  std::vector<std::string> ImageDirs() const;
  Result<VmmJailOptions> JailOptions() const;  // checked: [core] jailer_binary and friends
  Result<std::string> FindVmmLogWriter() const;

  AgentConfig config_;
  Logger& logger_;
  std::chrono::steady_clock::time_point started_;
  VerbRegistry verbs_;
  std::unique_ptr<StateDirLock> lock_;
  std::unique_ptr<VmStore> store_;
  std::unique_ptr<HandleStore> handles_;
  std::unique_ptr<LifecycleBackend> backend_;
  std::unique_ptr<PluginRegistry> registry_;
  std::unique_ptr<HostTable> host_table_;
  std::unique_ptr<HookDispatcher> dispatcher_;
  std::unique_ptr<OperationLog> ops_;
  std::unique_ptr<VmLifecycle> lifecycle_;
  std::unique_ptr<TickScheduler> ticks_;
  std::unique_ptr<PeriodicTask> reconciler_;
  std::unique_ptr<StoreCopies> copies_;
  std::unique_ptr<PeriodicTask> copier_;
  RouteTable routes_;
  std::unique_ptr<ControlServer> server_;
  RouteTable metrics_routes_;
  std::unique_ptr<ControlServer> metrics_server_;  // [core] metrics_listen
  bool started_ok_ = false;
};

}  // namespace banger::core
