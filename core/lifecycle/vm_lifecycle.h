// VmLifecycle: the VM lifecycle, the agent's main job. Create lays out a VM's
// files and writes its record; start records "starting", prepares every
// capability in dependency order, launches and configures the VMM from the
// spec and what capabilities contributed, boots it and records "running";
// stop and kill end the VMM (escalating / at once), clean up every
// capability in reverse order and clear their handles. A failure at any step
// of a start rolls back what was done and records "error" with the reason.
// Reconcile brings records and processes back in line after the agent was
// away (or a VMM died): it re-adopts live VMMs, cleans up after dead ones,
// and stops VMMs that run for VMs recorded stopped.
//
// Every operation resolves a ref (id, id prefix or name), holds that VM's
// lock and runs as an Operation with named, logged stages. Operations on
// different VMs run in parallel. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/base/logger.h"
#include "core/base/open_as.h"
#include "core/lifecycle/lifecycle_backend.h"
#include "core/lifecycle/operation_log.h"
#include "core/lifecycle/state_audit.h"
#include "core/lifecycle/vm_locks.h"
#include "core/lifecycle/vmm_exit_watcher.h"
#include "core/plugin_host/hook_dispatcher.h"
#include "core/store/handle_store.h"
#include "core/store/vm_store.h"
#include "core/vmm/firecracker_client.h"
#include "core/vmm/jail.h"
#include "core/vmm/vmm_process.h"

namespace banger::core {

// Jailed VMMs (core/vmm/jail.h); jailer empty: VMMs run unjailed.
struct VmmJailOptions {
  std::string jailer;
  std::string chroot_base;
  uint32_t uid_first = 0, uid_last = 0;  // VMM uids (and gids): one per running VM
  int cgroup_version = 1;                // resolved by the agent at start
  std::string parent_cgroup = "banger";
  uint64_t memory_overhead_mib = 64;  // the VMM's own, above the guest's memory
  uint32_t max_tasks_extra = 64;      // tasks allowed above one per vCPU
  bool enabled() const { return !jailer.empty(); }
};

struct VmLifecycleOptions {
  std::string state_dir;
  std::string vmm_binary = "firecracker";
  std::chrono::milliseconds vmm_ready_timeout{5000};
  std::chrono::milliseconds vmm_stop_timeout{10000};
  std::chrono::milliseconds vmm_api_timeout{5000};
  // Images under these directories may be used by anyone who may create a
  // VM; any other path only by a caller who can read it ([core] image_dirs).
  std::vector<std::string> image_dirs = {};
  VmmJailOptions jail = {};
  // The VMM's output: through this log writer (banger-vmm-log), capped and
  // rotated; empty: appended by the VMM itself, unbounded.
  std::string vmm_log_writer = {};
  uint64_t console_log_max_bytes = 8ull << 20;
  int console_log_keep = 1;
};

// A new VM: its name and what it runs (the record's spec, with its defaults).
struct CreateVmRequest {
  std::string name;
  VmSpec spec;
  // Who asks (the control socket's peer): kernel and rootfs are opened with
  // these credentials unless they lie under an image dir. None: the agent's
  // own (tools, tests).
  std::optional<Credentials> caller = std::nullopt;
  VmOptions options = {};  // "<capability>.<key>" -> value, checked by their capabilities
};

// Ok for [a-z0-9][a-z0-9-]{0,62} that does not look like a VM id (8 or
// more hex digits); otherwise the one-line error that says what a name is.
Status CheckVmName(const std::string& name);

class VmLifecycle : public LifecycleRequests {
 public:
  VmLifecycle(VmLifecycleOptions options, VmStore& store, HandleStore& handles,
              HookDispatcher& dispatcher, OperationLog& ops, const Logger& logger);
  ~VmLifecycle();

  Result<VmRecordPtr> Create(const CreateVmRequest& request, const StageObserver& observer = {});
  Result<VmRecordPtr> Start(const std::string& ref, const StageObserver& observer = {});
  Result<VmRecordPtr> Stop(const std::string& ref, const StageObserver& observer = {});
  // A stop for a reason other than a user's ("drain"), recorded as the VM's
  // last_stop_reason.
  Result<VmRecordPtr> StopFor(const std::string& ref, const std::string& reason);
  // Draining: creates and starts are refused (Unavailable, naming the way
  // out); what runs is left to the caller. Thread-safe.
  void SetDraining(bool draining) { draining_ = draining; }
  bool draining() const { return draining_; }
  Result<VmRecordPtr> Kill(const std::string& ref, const StageObserver& observer = {});
  // Refuses a running VM (Conflict) unless force, which stops it first. A
  // VM whose record is corrupt is refused (kCorrupt) unless force, which
  // ends the VMM serving its socket, removes its directory and its record.
  Status Remove(const std::string& ref, bool force, const StageObserver& observer = {});

  // What is known of a VM whose record cannot be read: the record's id and
  // error, its name if the names table has it, what its directory and the
  // host show. nullopt when `ref` names no corrupt record.
  struct CorruptVm {
    CorruptRecord record;
    std::string dir;
    bool dir_exists = false;
    std::vector<pid_t> vmm_pids;  // processes serving its API socket
  };
  std::optional<CorruptVm> DescribeCorrupt(const std::string& ref) const;
  Result<VmRecordPtr> Touch(const std::string& ref);

  // A capability's verb for one VM, answered by its query hook under the
  // VM's lock: never at the same time as a start, stop, rm or another verb
  // of that VM (capability.h, "Threading"). The VM's status when it cannot
  // be resolved; Conflict with the capability's reason when it refuses.
  Result<std::string> RunVerb(const std::string& ref, const std::string& capability,
                              const std::string& verb, const std::string& args_json);

  // Reconciles every VM. At agent start it waits for each VM's lock; later
  // (periodic) it skips VMs that are busy. Returns how many VMs it changed.
  int Reconcile(bool at_start);
  // From here on a running VM's VMM that exits is noticed at once (not at
  // the next reconcile) and its VM stopped with every capability cleaned up.
  // Call after the first Reconcile; StopWatching before the lifecycle goes.
  void StartWatching();
  void StopWatching();

  // What the last reconcile's audit found (StateAudit): directories, records
  // and VMMs that do not match. Each is logged once, when first found.
  std::vector<AuditFinding> Findings() const;
  // Opens a VM image for a create: absolute, a regular file, read as the
  // caller (Denied when the caller may not), without blocking on a FIFO.
  Result<UniqueFd> OpenImage(const char* what, const std::string& path,
                             const std::optional<Credentials>& caller) const;
  // The size of the state dir's file system: no work disk may be larger.
  uint64_t MaxDiskBytes() const;
  // At start, a VM directory without a manifest gets one (from the record).
  void WriteMissingManifest(const std::string& vm_id);
  // A VM just removed: what the audit found about it is settled.
  void ForgetFindings(const std::string& vm_id);

  // LifecycleRequests, for capabilities.
  ServiceStatus AddNetworkInterface(const std::string& capability, const std::string& vm_id,
                                    const banger_net_iface& iface) override;
  ServiceStatus AppendBootArgs(const std::string& capability, const std::string& vm_id,
                               const std::string& args) override;
  ServiceStatus RequestStop(const std::string& capability, const std::string& vm_id,
                            const std::string& reason) override;

 private:
  static Status DrainingError();
  // `vm "name"`, as messages name a VM.
  static std::string Quoted(const std::string& name) { return "vm \"" + name + "\""; }

  // What capabilities contributed to a VM's VMM configuration in prepare.
  struct Contributions {
    std::string preparing;  // the capability whose prepare is running
    std::vector<FcNetworkInterface> interfaces;
    std::vector<std::string> boot_args;
  };

  Status RemoveCorrupt(const CorruptRecord& c, const StageObserver& observer);
  // Stop or Kill: resolve, lock, then StopLocked as the user.
  Result<VmRecordPtr> StopByRef(const std::string& ref, bool kill, const StageObserver& observer,
                                const std::string& reason = "");
  Result<VmRecordPtr> StopLocked(const VmRecordPtr& vm, bool kill, const std::string& reason,
                                 Operation& op);
  Status StartLocked(const VmRecordPtr& vm, Operation& op);
  // Start's steps: the record as it will be starting (every runtime path,
  // CID and VMM uid: what reserve hooks see), written with the handles they
  // reserved; then the VMM spawned, ready, configured, booted and "running"
  // (the stage that failed, if one did).
  Result<VmRecord> StartingRecord(const VmRecord& current, uint32_t cid) const;
  Status RecordStarting(const VmRecord& starting);
  Status BootVmm(const VmRecord& rec, const Contributions& contributions, Operation& op,
                 ProcessIdentity* vmm, std::string* failed_stage);
  // Rolls back a failed start and records "error".
  void FailStart(const std::string& vm_id, const std::string& stage, const Status& why,
                 const ProcessIdentity& vmm, bool capabilities_cleaned,
                 const std::vector<std::string>& cleanup_failed, Operation& op);
  // A start that failed before anything of it was recorded (a reserve):
  // records "error" with the reason and gives the CID back.
  void FailStartUnrecorded(const std::string& vm_id, uint32_t cid, const std::string& stage,
                           const Status& why, const std::vector<std::string>& cleanup_failed,
                           Operation& op);
  Status PrepareCapabilities(const VmRecord& vm, Contributions& out,
                             std::vector<std::string>* rollback_failed);
  Status ConfigureVmm(const VmRecord& vm, const Contributions& c) const;
  // Cleans up every capability and clears the handles of those that succeeded.
  Status CleanupCapabilities(const VmRecord& vm);
  void ClearHandlesExcept(const VmRecord& vm, const std::vector<std::string>& failed);
  // Ends every process running with this VM's API socket (any start time).
  int KillStrays(const VmRecord& vm,
                 const std::map<std::string, std::vector<ProcessIdentity>>& scan);
  using ProcessScan = std::map<std::string, std::vector<ProcessIdentity>>;
  // `scan`: the /proc scan to audit against (null: a fresh one).
  void Audit(bool at_start, const ProcessScan* scan = nullptr);
  // Removes the files and the record of a create the agent did not finish.
  void FinishInterruptedCreate(const VmRecord& vm);
  // What a VMM was found to be: alive (its start time, and its API answers)
  // and the state it says it is in.
  struct VmmProbe {
    ProcessIdentity vmm;
    bool alive = false;
    std::string vmm_state;
    const VmRecord* of = nullptr;  // the record snapshot it was probed for
  };
  // The VMM a record names: its PID, or, for a start that has not recorded
  // it yet, the one process serving the VM's API socket.
  ProcessIdentity VmmOf(const VmRecord& vm, const ProcessScan& scan) const;
  // Alive: the process is the one recorded (PID and start time) and, when
  // `ask_api`, its API answers GET / (whose state it reports).
  // `reap`: a zombie child of the agent is reaped first (only under the
  // VM's lock).
  VmmProbe Probe(const VmRecord& vm, const ProcessIdentity& vmm, bool ask_api, bool reap) const;
  // Probes the VMMs of every active record, side by side; by VM id. At
  // start a record running is probed without its API (see the .cc).
  std::map<std::string, VmmProbe> ProbeAll(const std::vector<VmRecordPtr>& records,
                                           const ProcessScan& scan, bool at_start) const;
  // `probed`: what ProbeAll found, used when it is of the VMM the record
  // still names (else the VMM is probed again).
  bool ReconcileOne(const VmRecordPtr& vm, const ProcessScan& scan,
                    const char* noticed_by = "found by reconcile",
                    const VmmProbe* probed = nullptr);
  // The exit watcher's report: reconciles that VM under its lock.
  void VmmExited(const std::string& vm_id);
  VmmLaunchSpec LaunchSpecFor(const VmRecord& vm) const;

  // Jailed VMMs: the VMM processes as seen through jails too, a VM's jail,
  // and taking it down (a no-op when there is none).
  std::map<std::string, std::vector<ProcessIdentity>> ScanVmms() const;
  JailPaths JailOf(const std::string& vm_id) const;
  // Where a VMM of this VM serves its API: its directory, and its jail when
  // jailing is on (the last).
  std::vector<std::string> ApiSocketsOf(const std::string& vm_id) const;
  Status RemoveJailOf(const VmRecord& vm) const;

  uint32_t AllocateCid();
  void ReleaseCid(uint32_t cid);

  VmLifecycleOptions options_;
  VmStore& store_;
  HandleStore& handles_;
  HookDispatcher& dispatcher_;
  OperationLog& ops_;
  const Logger& logger_;
  VmLocks locks_;
  VmmExitWatcher exit_watcher_;
  std::atomic<bool> draining_{false};

  mutable std::mutex mu_;                // guards the four below
  std::vector<AuditFinding> findings_;   // confirmed
  std::vector<AuditFinding> last_seen_;  // the last audit's, confirmed or not
  std::set<uint32_t> cids_in_use_;
  std::map<std::string, Contributions> preparing_;  // by VM id
};

}  // namespace banger::core
