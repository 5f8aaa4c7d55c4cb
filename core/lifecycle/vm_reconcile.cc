#include <chrono>
#include <cstdio>
// Reconcile: bringing records and processes back in line after the agent was
// away or a VMM died (see VmLifecycle::Reconcile in vm_lifecycle.h).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "core/base/clock.h"
#include "core/lifecycle/state_audit.h"
#include "core/lifecycle/vm_files.h"
#include "core/lifecycle/vm_lifecycle.h"

namespace banger::core {

int VmLifecycle::KillStrays(const VmRecord& vm,
                            const std::map<std::string, std::vector<ProcessIdentity>>& scan) {
  // The path is derived from the id, not read from the record: a VM that was
  // never started has none recorded, yet a VMM may serve it.
  int killed = 0;
  for (const auto& socket : ApiSocketsOf(vm.id)) {
    auto it = scan.find(socket);
    if (it == scan.end()) continue;
    for (const auto& p : it->second) {
      // The API socket lives in this VM's own directory (or jail): whoever
      // serves it is this VM's VMM, whatever its start time.
      if (KillVmm(p)) ++killed;
    }
  }
  return killed;
}

void VmLifecycle::FinishInterruptedCreate(const VmRecord& vm) {
  // The create holds the VM's lock to the end, so a record still creating
  // under that lock is one whose agent died mid-create: undo it, say so.
  Operation op(ops_, "vm.create_interrupted", vm.name, vm.id);
  VmPaths paths = VmPathsFor(options_.state_dir, vm.id);
  Status s = op.Stage("files", [&] { return RemoveVmFiles(paths); });
  if (s) s = op.Stage("record", [&] { return store_.Delete(vm.id); });
  op.Finish(s);
  if (s) {
    logger_.Warn("core", Quoted(vm.name) + " (" + vm.short_id() +
                             "): its create was interrupted (the agent stopped during it); "
                             "removed what it had made, the name is free again");
  } else {
    logger_.Error("core", Quoted(vm.name) + ": finishing an interrupted create: " + s.message());
  }
}

ProcessIdentity VmLifecycle::VmmOf(const VmRecord& vm, const ProcessScan& scan) const {
  ProcessIdentity vmm{static_cast<pid_t>(vm.runtime.pid), vm.runtime.pid_start_time};
  if (vmm.pid <= 0 && vm.state == VmState::kStarting) {
    // A start records its VMM's PID with "running": before that, its VMM is
    // the one process serving the VM's API socket, if any.
    for (const auto& socket : ApiSocketsOf(vm.id)) {
      auto it = scan.find(socket);
      if (it != scan.end() && it->second.size() == 1) vmm = it->second.front();
    }
  }
  return vmm;
}

VmLifecycle::VmmProbe VmLifecycle::Probe(const VmRecord& vm, const ProcessIdentity& vmm,
                                         bool ask_api, bool reap) const {
  VmmProbe probe{vmm, false, "", &vm};
  // Only under the VM's lock: a start under way waits on its own child.
  if (reap) ReapIfExitedChild(vmm.pid);
  if (vmm.pid <= 0 || !ProcessAlive(vmm)) return probe;
  if (!ask_api) {
    probe.alive = true;  // its PID and start time: the process recorded
    probe.vmm_state = vm.runtime.vmm_state;
    return probe;
  }
  auto info = FirecrackerClient(vm.runtime.api_socket, options_.vmm_api_timeout).GetInstanceInfo();
  probe.alive = info.ok();
  if (info) probe.vmm_state = info->state;
  return probe;
}

std::map<std::string, VmLifecycle::VmmProbe> VmLifecycle::ProbeAll(
    const std::vector<VmRecordPtr>& records, const ProcessScan& scan, bool at_start) const {
  // A probe asks the VMM's API (GET /): a round trip to another process, a
  // thousand of which were most of a restart (two cores wake a thousand
  // VMMs in ~100 ms however many threads ask). So at start a VM recorded
  // running is re-adopted by its VMM's PID and start time alone, and the
  // first periodic reconcile, right after the socket serves, asks every API
  // (one that does not answer is then stopped and cleaned up). The probes
  // that ask run side by side, on a few threads; what they find is checked
  // again under each VM's lock.
  std::vector<std::pair<VmRecordPtr, ProcessIdentity>> todo;
  for (const auto& r : records) {
    if (IsActive(r->state)) todo.emplace_back(r, VmmOf(*r, scan));
  }
  std::vector<VmmProbe> found(todo.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < todo.size();) {
      const VmRecord& r = *todo[i].first;
      found[i] = Probe(r, todo[i].second, !at_start || r.state != VmState::kRunning,
                       /*reap=*/false);
    }
  };
  size_t threads = std::min<size_t>(16, todo.size() / 16);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  std::map<std::string, VmmProbe> by_id;
  for (size_t i = 0; i < todo.size(); ++i) by_id.emplace(todo[i].first->id, found[i]);
  return by_id;
}

int VmLifecycle::Reconcile(bool at_start) {
  auto scan = ScanVmms();
  auto records = store_.List().records;
  auto probes = ProbeAll(records, scan, at_start);
  int changed = 0;
  for (const auto& rec : records) {
    std::optional<HeldVmLock> guard;
    if (at_start) {
      guard.emplace(locks_.Acquire(rec->id));
    } else {
      guard = locks_.TryAcquire(rec->id);
      if (!guard) continue;  // busy: the operation holding it knows better
    }
    auto current = store_.Get(rec->id);
    if (!current) continue;
    auto probe = probes.find(rec->id);
    if (ReconcileOne(*current, scan, "found by reconcile",
                     probe == probes.end() ? nullptr : &probe->second)) {
      ++changed;
    }
    if (at_start) WriteMissingManifest(rec->id);
  }
  // At start nothing else runs: unless reconcile changed something, the one
  // scan serves the audit too (a /proc scan of a busy host is tens of ms).
  Audit(at_start, at_start && changed == 0 ? &scan : nullptr);
  return changed;
}

void VmLifecycle::WriteMissingManifest(const std::string& id) {
  auto rec = store_.Get(id);
  if (!rec || (*rec)->state == VmState::kCreating) return;
  VmPaths paths = VmPathsFor(options_.state_dir, id);
  if (::access(paths.dir.c_str(), F_OK) != 0 || ::access(paths.manifest_path.c_str(), F_OK) == 0) {
    return;
  }
  // A VM from before manifests: given one, so --recover-store can rebuild it.
  if (Status s = WriteVmManifest(paths, EncodeVmRecord(**rec)); !s) {
    logger_.Warn("core", Quoted((*rec)->name) + ": " + s.message());
  }
}

void VmLifecycle::Audit(bool at_start, const ProcessScan* scan) {
  // A fresh look, unless told: the scan above is older than the reconcile it served.
  auto seen = AuditState(store_.List(), options_.state_dir, scan ? *scan : ScanVmms());
  std::lock_guard lock(mu_);
  // At start nothing else runs; later, a create or rm between the listing
  // of records, directories and processes can look like a mismatch for one
  // audit: a finding counts once two audits in a row have seen it.
  std::vector<AuditFinding> confirmed;
  for (const auto& f : seen) {
    bool before = std::find(last_seen_.begin(), last_seen_.end(), f) != last_seen_.end();
    if (at_start || before) confirmed.push_back(f);
  }
  // Said once each, when first confirmed.
  for (const auto& f : confirmed) {
    if (std::find(findings_.begin(), findings_.end(), f) == findings_.end()) {
      logger_.Warn("core", f.kind + " " + f.vm_id + ": " + f.detail);
    }
  }
  last_seen_ = std::move(seen);
  findings_ = std::move(confirmed);
}

void VmLifecycle::ForgetFindings(const std::string& vm_id) {
  std::lock_guard lock(mu_);
  auto of_vm = [&](const AuditFinding& f) { return f.vm_id == vm_id; };
  std::erase_if(findings_, of_vm);
  std::erase_if(last_seen_, of_vm);
}

std::vector<AuditFinding> VmLifecycle::Findings() const {
  std::lock_guard lock(mu_);
  return findings_;
}

void VmLifecycle::StartWatching() {
  // The watcher's own thread opens their pidfds (a thousand are ~20 ms on
  // this kernel): the socket serves meanwhile. A VMM gone by then is
  // reported at once, like one that exits later.
  std::vector<std::pair<std::string, ProcessIdentity>> running;
  for (const auto& rec : store_.List().records) {
    if (rec->state == VmState::kRunning && rec->runtime.pid > 0) {
      running.emplace_back(rec->id, ProcessIdentity{static_cast<pid_t>(rec->runtime.pid),
                                                    rec->runtime.pid_start_time});
    }
  }
  exit_watcher_.Start(std::move(running));
}

void VmLifecycle::StopWatching() {
  exit_watcher_.Stop();
}

void VmLifecycle::VmmExited(const std::string& vm_id) {
  // Waits for the VM's lock: an operation under way (a stop, whose own
  // doing the exit may be) finishes first, and is then seen in the record.
  HeldVmLock guard = locks_.Acquire(vm_id);
  auto current = store_.Get(vm_id);
  if (!current || (*current)->state != VmState::kRunning) return;
  // The VMM recorded is gone (its pidfd said so): no /proc scan for others
  // serving its socket (tens of ms on a host of a thousand VMs, for every
  // exit); the periodic reconcile's scan finds any such stray.
  ReconcileOne(*current, ProcessScan{}, "noticed at once");
}

bool VmLifecycle::ReconcileOne(const VmRecordPtr& vm, const ProcessScan& scan,
                               const char* noticed_by, const VmmProbe* probed) {
  const std::string who = Quoted(vm->name);
  if (vm->state == VmState::kCreating) {
    FinishInterruptedCreate(*vm);
    return true;
  }
  if (!IsActive(vm->state)) {
    // Recorded not running: any VMM serving its socket is a leftover.
    int n = KillStrays(*vm, scan);
    if (n)
      logger_.Warn("core", who + " is recorded " + std::string(VmStateName(vm->state)) +
                               " but a VMM ran for it; stopped " + std::to_string(n));
    bool jail_left = options_.jail.enabled() && ::access(JailOf(vm->id).dir.c_str(), F_OK) == 0;
    bool cgroup_left = !vm->runtime.cgroup_memory_dir.empty() &&
                       ::access(vm->runtime.cgroup_memory_dir.c_str(), F_OK) == 0;
    if (jail_left || cgroup_left) {
      // A jail (or its cgroup) its stop did not live, or manage, to take down.
      if (Status j = RemoveJailOf(*vm); !j) logger_.Warn("core", who + ": " + j.message());
    }
    if (vm->state == VmState::kError && !vm->handles.empty()) {
      // A cleanup that failed earlier: try again, so nothing stays behind.
      Operation op(ops_, "vm.reconcile", vm->name, vm->id);
      Status s = op.Stage("cleanup", [&] { return CleanupCapabilities(*vm); });
      op.Finish(s);
      return true;
    }
    return n > 0;
  }

  // Probed before the lock was taken (ProbeAll): good only for the VMM the
  // record still names.
  // Probed before the lock was taken (ProbeAll): good only for the record
  // as it was then (the very snapshot: a start that finished meanwhile has
  // a new one) and the VMM it still names.
  ProcessIdentity vmm = VmmOf(*vm, scan);
  VmmProbe probe = probed && probed->of == vm.get() && probed->vmm.pid == vmm.pid &&
                           probed->vmm.start_time == vmm.start_time
                       ? *probed
                       : Probe(*vm, vmm, /*ask_api=*/true, /*reap=*/true);
  bool alive = probe.alive;
  const std::string& vmm_state = probe.vmm_state;
  if (alive && vm->state == VmState::kRunning) {
    uint32_t cid = vm->runtime.vsock_cid;
    std::lock_guard lock(mu_);
    if (cid >= 3) cids_in_use_.insert(cid);
    return false;  // re-adopted as it was (watched from StartWatching on)
  }
  Operation op(ops_, "vm.reconcile", vm->name, vm->id);
  if (alive && vm->state == VmState::kStarting && vmm_state == "Running") {
    // The agent died after InstanceStart but before recording it.
    Status s = op.Stage("record.running", [&] {
      return store_.Update(vm->id, [&](VmRecord& r) {
        r.state = VmState::kRunning;
        r.runtime.pid = vmm.pid;
        r.runtime.pid_start_time = vmm.start_time;
        r.runtime.vmm_state = vmm_state;
        r.runtime.started_at_ms = r.updated_at_ms = UnixMillis();
        return Status::Ok();
      });
    });
    op.Finish(s);
    if (s) exit_watcher_.Watch(vm->id, vmm);
    logger_.Info("core", who + ": re-adopted VMM pid " + std::to_string(vmm.pid));
    return true;
  }
  // Dead, half-started or half-stopped: finish it as a stop, so every
  // capability cleans up and nothing is left behind.
  // Said as what was under way: a start or a stop the agent did not live to
  // finish, else a VMM that went away by itself.
  std::string reason =
      vm->state == VmState::kStarting   ? "agent restarted during start (found by reconcile)"
      : vm->state == VmState::kStopping ? "stop finished by reconcile"
                                        : "VMM exited (" + std::string(noticed_by) + ")";
  if (!alive) {
    op.Stage("vmm.gone", [&](std::string& d) {
      int n = KillStrays(*vm, scan);  // an unrecorded or unresponsive VMM
      d = n ? "killed " + std::to_string(n) + " unresponsive VMM process(es)" : "no VMM";
      return Status::Ok();
    });
  }
  auto r = StopLocked(vm, /*kill=*/!alive || vm->state == VmState::kStarting, reason, op);
  op.Finish(r ? Status::Ok() : r.status());
  logger_.Info("core",
               who + ": " + reason + "; cleaned up" + (r ? "" : ": " + r.status().message()));
  return true;
}

}  // namespace banger::core
