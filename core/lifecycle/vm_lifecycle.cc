#include "core/lifecycle/vm_lifecycle.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "core/base/clock.h"
#include "core/base/fault_point.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/lifecycle/vm_files.h"
#include "core/lifecycle/vm_view.h"

namespace banger::core {
namespace {

// The operation a capability's stop request is logged as: the reason's
// first word ("stale: untouched for 2h" -> vm.stop_stale).
std::string StopOperationFor(const std::string& reason) {
  auto colon = reason.find(':');
  std::string word = colon == std::string::npos ? "" : reason.substr(0, colon);
  bool ok = !word.empty() && word.size() <= 24 && std::all_of(word.begin(), word.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  return ok ? "vm.stop_" + word : "vm.stop_requested";
}

}  // namespace

Status CheckVmName(const std::string& name) {
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > 63 || !lower_or_digit(name[0]) ||
      !std::all_of(name.begin(), name.end(),
                   [&](char c) { return lower_or_digit(c) || c == '-'; })) {
    return Status::Invalid("'" + name +
                           "' is not a VM name: use 1 to 63 of a-z, 0-9 and '-', starting "
                           "with a letter or digit");
  }
  if (name.size() >= 8 && name.find_first_not_of("0123456789abcdef") == std::string::npos) {
    return Status::Invalid("'" + name +
                           "' has the shape of a VM id or of its start (8 or more hex "
                           "digits); a name may not, so that an id always names one VM");
  }
  return Status::Ok();
}

VmLifecycle::VmLifecycle(VmLifecycleOptions options, VmStore& store, HandleStore& handles,
                         HookDispatcher& dispatcher, OperationLog& ops, const Logger& logger)
    : options_(std::move(options)),
      store_(store),
      handles_(handles),
      dispatcher_(dispatcher),
      ops_(ops),
      logger_(logger),
      exit_watcher_([this](const std::string& vm_id) { VmmExited(vm_id); }) {
  // CIDs of VMs that may still be running stay taken until reconcile says.
  for (const auto& r : store_.List().records) {
    if (IsActive(r->state) && r->runtime.vsock_cid >= 3) cids_in_use_.insert(r->runtime.vsock_cid);
  }
}

Status VmLifecycle::DrainingError() {
  return Status::Unavailable(
      "the agent is draining: it takes no creates or starts (bangerctl undrain ends it)");
}

VmLifecycle::~VmLifecycle() {
  exit_watcher_.Stop();
}

uint32_t VmLifecycle::AllocateCid() {
  std::lock_guard lock(mu_);
  uint32_t cid = 3;  // 0-2 are reserved (hypervisor, local, host)
  while (cids_in_use_.count(cid)) ++cid;
  cids_in_use_.insert(cid);
  return cid;
}

void VmLifecycle::ReleaseCid(uint32_t cid) {
  std::lock_guard lock(mu_);
  cids_in_use_.erase(cid);
}

namespace {

// What a jailed VMM finds in its root ("/" + name), hard links to the VM's files.
constexpr const char* kJailKernel = "vmlinux";
constexpr const char* kJailSystemDisk = "system.img";
constexpr const char* kJailWorkDisk = "work.img";

// A host path as the VMM sees it: inside its jail's root, or as is.
std::string ForVmm(const VmRecord& vm, const std::string& host_path) {
  const std::string& root = vm.runtime.jail_root;
  if (root.empty() || host_path.compare(0, root.size() + 1, root + "/") != 0) return host_path;
  return host_path.substr(root.size());
}

}  // namespace

VmmLaunchSpec VmLifecycle::LaunchSpecFor(const VmRecord& vm) const {
  VmmLaunchSpec spec;
  spec.binary = options_.vmm_binary;
  spec.id = vm.name;
  spec.api_socket = vm.runtime.api_socket;
  spec.vsock_path = vm.runtime.vsock_path;
  spec.metrics_path = vm.runtime.metrics_path;
  spec.log_path = vm.runtime.log_path;
  spec.log_writer = options_.vmm_log_writer;
  spec.log_max_bytes = options_.console_log_max_bytes;
  spec.log_keep = options_.console_log_keep;
  spec.ready_timeout = options_.vmm_ready_timeout;
  if (!vm.runtime.jail_root.empty()) {
    const VmmJailOptions& o = options_.jail;
    VmmJail j;
    j.jailer = o.jailer;
    j.chroot_base = o.chroot_base;
    j.uid = vm.runtime.vmm_uid;
    j.gid = vm.runtime.vmm_gid;
    j.cgroup_version = o.cgroup_version;
    j.parent_cgroup = o.parent_cgroup;
    j.cgroups = CgroupLimits(o.cgroup_version, vm.spec.vcpus,
                             (vm.spec.memory_mib + o.memory_overhead_mib) << 20,
                             vm.spec.vcpus + o.max_tasks_extra);
    j.resource_limits = {"no-file=2048"};
    j.api_socket = ForVmm(vm, vm.runtime.api_socket);
    spec.id = vm.id;  // the jailer's --id: alphanumerics and hyphens
    spec.jail = std::move(j);
  }
  return spec;
}

std::map<std::string, std::vector<ProcessIdentity>> VmLifecycle::ScanVmms() const {
  return ScanApiSocketProcesses(options_.jail.enabled() ? options_.jail.chroot_base : "");
}

std::vector<std::string> VmLifecycle::ApiSocketsOf(const std::string& vm_id) const {
  std::vector<std::string> sockets{VmPathsFor(options_.state_dir, vm_id).api_socket};
  if (options_.jail.enabled()) sockets.push_back(JailOf(vm_id).root + "/api.sock");
  return sockets;
}

JailPaths VmLifecycle::JailOf(const std::string& vm_id) const {
  return JailPathsFor(options_.jail.chroot_base, options_.vmm_binary, vm_id);
}

Status VmLifecycle::RemoveJailOf(const VmRecord& vm) const {
  if (!vm.runtime.jail_root.empty()) {
    // Where it was made, whatever the config says now.
    JailPaths recorded;
    recorded.root = vm.runtime.jail_root;
    recorded.dir = std::filesystem::path(recorded.root).parent_path();
    // A jail is <base>/<exec>/<id>/root: never remove_all anything else.
    if (std::filesystem::path(recorded.dir).filename() != vm.id ||
        std::filesystem::path(recorded.root).filename() != "root") {
      return Status::Error("recorded jail root " + recorded.root + " is not <base>/<exec>/" +
                           vm.id + "/root; left alone");
    }
    return RemoveJail(recorded, vm.runtime.cgroup);
  }
  if (!options_.jail.enabled()) return Status::Ok();
  return RemoveJail(JailOf(vm.id), options_.jail.parent_cgroup + "/" + vm.id);
}

// ---- create ----

Result<UniqueFd> VmLifecycle::OpenImage(const char* what, const std::string& path,
                                        const std::optional<Credentials>& caller) const {
  auto invalid = [&](const std::string& why) {
    return Status::Invalid(std::string(what) + " " + why);
  };
  if (path.empty() || path[0] != '/')
    return invalid("must be an absolute path, not '" + path + "'");
  // O_NONBLOCK: a FIFO must not hang the create; fstat on the descriptor
  // then used decides what it is.
  const int flags = O_RDONLY | O_NONBLOCK | O_NOCTTY;
  auto under_image_dir = [&](const std::string& real) {
    for (const auto& dir : options_.image_dirs) {
      if (real.rfind(dir + "/", 0) == 0) return true;
    }
    return false;
  };
  // Under an image dir, anyone who may create a VM may use it: the agent
  // opens the resolved path (inside the operator's directory; what the
  // caller's own path pointed at is not opened by the agent, so swapping a
  // symlink after the check leads nowhere), refusing any symlink left, and
  // checks what it opened. Elsewhere, only a caller who may read it opens it.
  Result<UniqueFd> fd = Status::Invalid("");
  char* real = caller ? ::realpath(path.c_str(), nullptr) : nullptr;
  std::string resolved = real ? real : "";
  std::free(real);
  if (caller && !resolved.empty() && under_image_dir(resolved)) {
    fd = OpenAs(resolved, flags | O_NOFOLLOW, Credentials{::geteuid(), ::getegid(), {}});
    char link[64];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd ? fd->get() : -1);
    char* opened = fd ? ::realpath(link, nullptr) : nullptr;
    bool inside = opened != nullptr && under_image_dir(opened);
    std::free(opened);
    if (fd && !inside) fd = Status::Denied(path + " changed while it was opened");
  } else {
    fd = OpenAs(path, flags, caller ? *caller : Credentials{::geteuid(), ::getegid(), {}});
  }
  if (!fd) {
    std::string m = std::string(what) + " " + fd.status().message();
    if (fd.status().code() == StatusCode::kDenied) {
      return Status::Denied(m + ": the caller may not read it (or put it under [core] image_dirs)");
    }
    return Status::Invalid(m);
  }
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return invalid(path + " is not a regular file (a directory, device or FIFO cannot be a VM's " +
                   what + ")");
  }
  return fd;
}

uint64_t VmLifecycle::MaxDiskBytes() const {
  struct statvfs fs {};
  if (::statvfs(options_.state_dir.c_str(), &fs) != 0) return uint64_t{1} << 50;
  return static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
}

Result<VmRecordPtr> VmLifecycle::Create(const CreateVmRequest& req, const StageObserver& observer) {
  const VmSpec& spec = req.spec;
  Operation op(ops_, "vm.create", req.name, "", observer);
  auto fail = [&](Status s) -> Result<VmRecordPtr> {
    Status out = s.Prefixed(Quoted(req.name) + ": create");
    op.Finish(out);
    return out;
  };
  if (draining_) return fail(DrainingError());
  if (Status s = CheckVmName(req.name); !s) return fail(s);
  if (spec.vcpus < 1 || spec.vcpus > 32) {
    return fail(Status::Invalid("vcpus must be 1 to 32 (Firecracker's limit), not " +
                                std::to_string(spec.vcpus)));
  }
  if (spec.memory_mib < 16) return fail(Status::Invalid("memory must be at least 16 MiB"));
  // Each capability judges its own options, before anything is made.
  if (!req.options.empty()) {
    if (Status s = dispatcher_.ValidateOptions(req.options); !s) return fail(s);
  }
  auto kernel = OpenImage("kernel", spec.kernel_image, req.caller);
  if (!kernel) return fail(kernel.status());
  auto rootfs = OpenImage("rootfs", spec.rootfs, req.caller);
  if (!rootfs) return fail(rootfs.status());
  if (auto taken = store_.GetByName(req.name); taken) {
    return fail(Status::Conflict("the name is taken by vm " + (*taken)->short_id()));
  }
  VmRecord r;
  r.id = NewVmId();
  r.name = req.name;
  op.SetVm(r.name, r.id);
  r.state = VmState::kCreating;
  r.created_at_ms = r.updated_at_ms = r.last_touched_at_ms = UnixMillis();
  r.spec = spec;
  r.options = req.options;
  VmPaths paths = VmPathsFor(options_.state_dir, r.id);
  r.runtime.overlay_path = paths.overlay_path;
  r.runtime.work_disk_path = spec.work_disk_bytes > 0 ? paths.work_disk_path : "";
  r.runtime.log_path = paths.log_path;
  // The record first, then the files: no directory is ever without a record,
  // and a create the agent did not live to finish is found at its next start
  // (FinishInterruptedCreate).
  HeldVmLock lock = locks_.Acquire(r.id);
  Status s = op.Stage("record.creating", [&] { return store_.Upsert(r); });
  if (!s) return fail(s);
  BANGER_FAULT_POINT("lifecycle.create.recorded");
  s = op.Stage("files", [&] {
    VmRecord as_created = r;
    as_created.state = VmState::kCreated;
    return CreateVmFiles(paths, VmImages{kernel->get(), rootfs->get(), spec.rootfs},
                         spec.work_disk_bytes, EncodeVmRecord(as_created));
  });
  if (s)
    s = op.Stage("record.created", [&] {
      return store_.Update(r.id, [](VmRecord& rec) {
        rec.state = VmState::kCreated;
        return Status::Ok();
      });
    });
  if (!s) {
    RemoveVmFiles(paths);
    if (Status gone = store_.Delete(r.id); !gone) {
      // Left "creating": the next reconcile finishes it.
      logger_.Error("core", Quoted(r.name) + ": undoing a failed create: " + gone.message());
    }
    return fail(s);
  }
  op.Finish(Status::Ok());
  return store_.Get(r.id);
}

// ---- start ----

Result<VmRecordPtr> VmLifecycle::Start(const std::string& ref, const StageObserver& observer) {
  auto found = store_.Resolve(ref);
  if (!found) return found.status().Prefixed("start " + ref);
  if (draining_) return DrainingError().Prefixed(Quoted((*found)->name) + ": start");
  Operation op(ops_, "vm.start", (*found)->name, (*found)->id, observer);
  auto guard = locks_.Acquire((*found)->id);
  auto current = store_.Get((*found)->id);  // it may have changed while we waited
  if (!current) {
    op.Finish(current.status());
    return current.status().Prefixed(Quoted((*found)->name) + ": start");
  }
  if (IsActive((*current)->state) || (*current)->state == VmState::kCreating) {
    Status busy = Status::Conflict(Quoted((*current)->name) + " is " +
                                   ((*current)->state == VmState::kCreating ? "" : "already ") +
                                   std::string(VmStateName((*current)->state)));
    op.Finish(busy);
    return busy;
  }
  if (draining_) {
    // Again under the lock: a drain that began while this start waited for it.
    Status refused = DrainingError().Prefixed(Quoted((*current)->name) + ": start");
    op.Finish(refused);
    return refused;
  }
  Status s = StartLocked(*current, op);
  op.Finish(s);
  if (!s) return s;
  return store_.Get((*current)->id);
}

Status VmLifecycle::StartLocked(const VmRecordPtr& vm, Operation& op) {
  const std::string id = vm->id;
  const std::string who = Quoted(vm->name);
  uint32_t cid = AllocateCid();

  // 1. The VM as it will be recorded starting: every path the VMM will use,
  // its vsock CID and VMM uid. Nothing is written yet.
  auto starting = StartingRecord(*vm, cid);
  if (!starting) {
    ReleaseCid(cid);
    return starting.status().Prefixed(who + ": start failed at record.starting");
  }
  banger_vm starting_view = MakeVmView(*starting);

  // 2. Capabilities reserve their identities (creating nothing); the handle
  // store holds what they record until the next step writes it.
  handles_.Hold(id);
  std::vector<std::string> rollback_failed, rolled_back;
  Status s = op.Stage("reserve", [&] {
    return dispatcher_.Reserve(starting_view, &rollback_failed, &rolled_back);
  });
  if (!s) {
    handles_.Release(id, /*written=*/false);
    // The record may hold handles from before (a VM in error whose cleanup
    // failed): those of the capabilities the rollback just cleaned up go,
    // as after any cleanup (their objects, and slots, are free now).
    for (const auto& cap : rolled_back) {
      if (std::find(rollback_failed.begin(), rollback_failed.end(), cap) != rollback_failed.end())
        continue;
      if (Status c = handles_.Clear(id, cap, ""); !c) {
        logger_.Warn("core", who + ": clear handles of " + cap + ": " + c.message());
      }
    }
    FailStartUnrecorded(id, cid, "reserve", s, rollback_failed, op);
    return s.Prefixed(who + ": start failed at reserve");
  }

  // 3. "starting" and every identity reserved, in one commit: from here on a
  // crashed agent finds this VM's VMM by its API socket and each
  // capability's objects by its handles.
  s = op.Stage("record.starting", [&] { return RecordStarting(*starting); });
  if (!s) {
    // Never recorded: what the capabilities hold in memory goes.
    dispatcher_.CleanupReserved(starting_view);
    handles_.Release(id, /*written=*/false);
    ReleaseCid(cid);
    return s.Prefixed(who + ": start failed at record.starting");
  }
  handles_.Release(id, /*written=*/true);
  VmRecordPtr rec = *store_.Get(id);

  // 4. Capabilities, in dependency order, create what they reserved (one
  // without a reserve hook records its handles first, itself).
  Contributions contributions;
  s = op.Stage("prepare",
               [&] { return PrepareCapabilities(*rec, contributions, &rollback_failed); });
  if (!s) {
    FailStart(id, "prepare", s, {}, /*capabilities_cleaned=*/true, rollback_failed, op);
    return s.Prefixed(who + ": start failed at prepare");
  }

  // 5. The VMM, then "running".
  ProcessIdentity vmm;
  std::string failed_stage;
  s = BootVmm(*rec, contributions, op, &vmm, &failed_stage);
  if (!s) {
    FailStart(id, failed_stage, s, vmm, /*capabilities_cleaned=*/false, {}, op);
    return s.Prefixed(who + ": start failed at " + failed_stage);
  }
  exit_watcher_.Watch(id, vmm);
  return Status::Ok();
}

void VmLifecycle::FailStartUnrecorded(const std::string& vm_id, uint32_t cid,
                                      const std::string& stage, const Status& why,
                                      const std::vector<std::string>& cleanup_failed,
                                      Operation& op) {
  // The capabilities' rollback ran (in Reserve); the record still says what
  // it said before the start, but for the error.
  op.Stage("record.error", [&] {
    return store_.Update(vm_id, [&](VmRecord& r) {
      r.state = VmState::kError;
      r.last_error =
          "start failed at " + stage + ": " + why.message() +
          (cleanup_failed.empty() ? "" : " (rollback: cleanup failed for some capabilities)");
      r.updated_at_ms = UnixMillis();
      return Status::Ok();
    });
  });
  ReleaseCid(cid);
}

Result<VmRecord> VmLifecycle::StartingRecord(const VmRecord& current, uint32_t cid) const {
  const std::string& id = current.id;
  VmPaths paths = VmPathsFor(options_.state_dir, id);
  const VmmJailOptions& jail = options_.jail;
  // One uid per running VM, from its vsock CID (unique among them, from 3).
  uint64_t uid = uint64_t{jail.uid_first} + cid - 3;
  if (jail.enabled() && uid > jail.uid_last) {
    return Status::Unavailable("no VMM uid left: [core] jailer_uids " +
                               std::to_string(jail.uid_first) + "-" +
                               std::to_string(jail.uid_last) + " has one per running VM");
  }
  VmRecord r = current;
  r.state = VmState::kStarting;
  r.last_error.clear();
  r.updated_at_ms = UnixMillis();
  r.runtime.vmm_state.clear();
  r.runtime.pid = 0;
  r.runtime.pid_start_time = 0;
  r.runtime.started_at_ms = 0;
  r.runtime.api_socket = paths.api_socket;
  r.runtime.vsock_path = paths.vsock_path;
  r.runtime.vsock_cid = cid;
  r.runtime.metrics_path = paths.metrics_path;
  r.runtime.log_path = paths.log_path;
  r.runtime.jail_root.clear();
  r.runtime.vmm_uid = r.runtime.vmm_gid = 0;
  r.runtime.cgroup.clear();
  r.runtime.cgroup_cpu_dir.clear();
  r.runtime.cgroup_memory_dir.clear();
  if (jail.enabled()) {
    // The sockets and the metrics file live in the jail's root; the disks
    // and the kernel are hard-linked there at launch.
    JailPaths j = JailOf(id);
    r.runtime.jail_root = j.root;
    r.runtime.api_socket = ApiSocketsOf(id).back();
    r.runtime.vsock_path = j.root + "/vsock.sock";
    r.runtime.metrics_path = j.root + "/metrics";
    r.runtime.vmm_uid = r.runtime.vmm_gid = static_cast<uint32_t>(uid);
    r.runtime.cgroup = jail.parent_cgroup + "/" + id;
    CgroupDirs dirs = CgroupDirsFor(CgroupMounts(), jail.cgroup_version, r.runtime.cgroup);
    r.runtime.cgroup_cpu_dir = dirs.cpu;
    r.runtime.cgroup_memory_dir = dirs.memory;
  }
  return r;
}

Status VmLifecycle::RecordStarting(const VmRecord& starting) {
  // A start's writes describe processes and kernel objects, none of which
  // outlives the host: they skip the meta page's sync (ARCHITECTURE.md,
  // "Durability").
  return store_.Update(
      starting.id,
      [&](VmRecord& r) {
        r.state = starting.state;
        r.last_error = starting.last_error;
        r.updated_at_ms = starting.updated_at_ms;
        r.runtime = starting.runtime;
        handles_.ApplyHeld(starting.id, r);
        return Status::Ok();
      },
      VmStore::Sync::kDataOnly);
}

Status VmLifecycle::BootVmm(const VmRecord& rec, const Contributions& contributions, Operation& op,
                            ProcessIdentity* vmm, std::string* failed_stage) {
  VmmLaunchSpec spec = LaunchSpecFor(rec);
  Status s;
  auto stage = [&](const char* name, const std::function<Status()>& body) {
    if (!s) return;
    s = op.Stage(name, body);
    if (!s) *failed_stage = name;
  };
  if (!rec.runtime.jail_root.empty()) {
    stage("jail", [&] {
      // Only files of the VM's own directory are linked (and so chowned to
      // its VMM): a VM from before kernel copies gets its copy now, never a
      // link to the shared image.
      std::string kernel = VmPathsFor(options_.state_dir, rec.id).kernel_path;
      if (::access(kernel.c_str(), F_OK) != 0) {
        if (Status c = CopyOnWriteFile(rec.spec.kernel_image, kernel); !c) return c;
      }
      std::vector<std::pair<std::string, std::string>> files{
          {kernel, kJailKernel}, {rec.runtime.overlay_path, kJailSystemDisk}};
      if (!rec.runtime.work_disk_path.empty())
        files.push_back({rec.runtime.work_disk_path, kJailWorkDisk});
      return BuildJailRoot(JailOf(rec.id), files, rec.runtime.vmm_uid, rec.runtime.vmm_gid);
    });
  }
  // Its PID is recorded with "running": until then an agent that dies finds
  // the VMM by its API socket (ReconcileOne), as it finds one whose spawn it
  // did not live to see return.
  stage("vmm.spawn", [&] {
    auto spawned = SpawnVmm(spec);
    if (!spawned) return spawned.status();
    *vmm = *spawned;
    return Status::Ok();
  });
  stage("vmm.ready", [&] { return WaitVmmReady(*vmm, spec); });
  stage("vmm.configure", [&] { return ConfigureVmm(rec, contributions); });
  stage("vmm.boot", [&] {
    return FirecrackerClient(rec.runtime.api_socket, options_.vmm_api_timeout)
        .Act(FcAction::kInstanceStart);
  });
  // Written behind (VmStore::UpdateBehind): what it says, reconcile finds
  // again from the host - an agent that dies before it reaches the disk
  // restarts to a VM recorded starting whose live, booted VMM it re-adopts.
  // So the start pays one sync, for "starting" and the identities reserved.
  stage("record.running", [&] {
    return store_.UpdateBehind(rec.id, [&](VmRecord& r) {
      r.state = VmState::kRunning;
      r.runtime.pid = vmm->pid;
      r.runtime.pid_start_time = vmm->start_time;
      r.runtime.vmm_state = "Running";
      r.runtime.started_at_ms = UnixMillis();
      r.updated_at_ms = r.runtime.started_at_ms;
      return Status::Ok();
    });
  });
  return s;
}

Status VmLifecycle::PrepareCapabilities(const VmRecord& vm, Contributions& out,
                                        std::vector<std::string>* rollback_failed) {
  {
    std::lock_guard lock(mu_);
    preparing_[vm.id] = Contributions{};
  }
  banger_vm view = MakeVmView(vm);
  Status s = dispatcher_.Prepare(
      view,
      [&](const std::string& capability) {
        std::lock_guard lock(mu_);
        preparing_[vm.id].preparing = capability;
      },
      rollback_failed, /*reserved=*/true);
  std::lock_guard lock(mu_);
  out = std::move(preparing_[vm.id]);
  preparing_.erase(vm.id);
  return s;
}

Status VmLifecycle::ConfigureVmm(const VmRecord& vm, const Contributions& c) const {
  FirecrackerClient fc(vm.runtime.api_socket, options_.vmm_api_timeout);
  std::string boot_args = vm.spec.boot_args;
  for (const auto& extra : c.boot_args) boot_args += (boot_args.empty() ? "" : " ") + extra;
  Status s = fc.PutMachineConfig({vm.spec.vcpus, vm.spec.memory_mib, false});
  // The kernel copied at create (VMs made before copies: the spec's path).
  std::string kernel = VmPathsFor(options_.state_dir, vm.id).kernel_path;
  if (::access(kernel.c_str(), F_OK) != 0) kernel = vm.spec.kernel_image;
  std::string system_disk = vm.runtime.overlay_path, work_disk = vm.runtime.work_disk_path;
  if (!vm.runtime.jail_root.empty()) {  // the links in its root (BootVmm)
    kernel = std::string("/") + kJailKernel;
    system_disk = std::string("/") + kJailSystemDisk;
    if (!work_disk.empty()) work_disk = std::string("/") + kJailWorkDisk;
  }
  if (s) s = fc.PutBootSource({kernel, boot_args, ""});
  if (s) s = fc.PutDrive({"rootfs", system_disk, true, false});
  if (s && !work_disk.empty()) s = fc.PutDrive({"work", work_disk, false, false});
  for (const auto& iface : c.interfaces) {
    if (s) s = fc.PutNetworkInterface(iface);
  }
  if (s) s = fc.PutVsock({vm.runtime.vsock_cid, ForVmm(vm, vm.runtime.vsock_path)});
  if (s) s = fc.PutMetrics({ForVmm(vm, vm.runtime.metrics_path)});
  return s;
}

void VmLifecycle::FailStart(const std::string& vm_id, const std::string& stage, const Status& why,
                            const ProcessIdentity& vmm, bool capabilities_cleaned,
                            const std::vector<std::string>& cleanup_failed, Operation& op) {
  std::string rollback_error;
  op.Stage("rollback", [&](std::string& detail) {
    if (vmm.pid > 0) {
      Status killed = KillVmm(vmm);
      if (!killed) rollback_error = killed.message();
      detail = "vmm killed";
    }
    auto rec = store_.Get(vm_id);
    if (!rec) return rec.status();
    if (!(*rec)->runtime.jail_root.empty()) {
      // A jailer that failed half-way may have left a VMM it never named.
      if (vmm.pid <= 0 && KillStrays(**rec, ScanVmms()) > 0) detail = "unrecorded vmm killed";
      if (Status gone = RemoveJailOf(**rec); !gone) rollback_error = gone.message();
    }
    if (capabilities_cleaned) {
      // prepare's own rollback ran: clear what it cleaned.
      ClearHandlesExcept(**rec, cleanup_failed);
      if (!cleanup_failed.empty()) rollback_error = "cleanup failed for some capabilities";
    } else if (Status cleaned = CleanupCapabilities(**rec); !cleaned) {
      rollback_error += (rollback_error.empty() ? "" : "; ") + cleaned.message();
    }
    return rollback_error.empty() ? Status::Ok() : Status::Error(rollback_error);
  });
  uint32_t cid = 0;
  op.Stage("record.error", [&] {
    return store_.Update(vm_id, [&](VmRecord& r) {
      r.state = VmState::kError;
      r.last_error = "start failed at " + stage + ": " + why.message() +
                     (rollback_error.empty() ? "" : " (rollback: " + rollback_error + ")");
      cid = r.runtime.vsock_cid;
      r.runtime.pid = 0;
      r.runtime.pid_start_time = 0;
      r.runtime.vmm_state.clear();
      r.runtime.started_at_ms = 0;
      r.updated_at_ms = UnixMillis();
      return Status::Ok();
    });
  });
  if (cid) ReleaseCid(cid);
}

// ---- stop, kill ----

Result<VmRecordPtr> VmLifecycle::Stop(const std::string& ref, const StageObserver& observer) {
  return StopByRef(ref, /*kill=*/false, observer);
}

Result<VmRecordPtr> VmLifecycle::Kill(const std::string& ref, const StageObserver& observer) {
  return StopByRef(ref, /*kill=*/true, observer);
}

Result<VmRecordPtr> VmLifecycle::StopFor(const std::string& ref, const std::string& reason) {
  return StopByRef(ref, /*kill=*/false, {}, reason);
}

Result<VmRecordPtr> VmLifecycle::StopByRef(const std::string& ref, bool kill,
                                           const StageObserver& observer,
                                           const std::string& reason) {
  const char* verb = kill ? "kill" : "stop";
  auto found = store_.Resolve(ref);
  if (!found) return found.status().Prefixed(std::string(verb) + " " + ref);
  Operation op(ops_, std::string("vm.") + verb, (*found)->name, (*found)->id, observer);
  auto guard = locks_.Acquire((*found)->id);
  auto current = store_.Get((*found)->id);
  if (!current) {
    op.Finish(current.status());
    return current.status();
  }
  auto r = StopLocked(*current, kill, !reason.empty() ? reason : kill ? "user (kill)" : "user", op);
  op.Finish(r ? Status::Ok() : r.status());
  return r;
}

Result<VmRecordPtr> VmLifecycle::StopLocked(const VmRecordPtr& vm, bool kill,
                                            const std::string& reason, Operation& op) {
  const std::string who = Quoted(vm->name);
  // A stopped VM has nothing to stop; an error VM may still hold handles
  // (a cleanup that failed), so it goes through cleanup again.
  if (vm->state == VmState::kStopped || vm->state == VmState::kCreated) {
    op.Stage("noop", [&](std::string& d) {
      d = "already " + std::string(VmStateName(vm->state));
      return Status::Ok();
    });
    return vm;
  }
  // A stop's writes, like a start's, describe processes and kernel objects
  // that do not outlive the host: one sync each (ARCHITECTURE.md,
  // "Durability"). "stopping" is written before the VMM is asked to go: an
  // agent that dies now finishes this stop at its next start.
  Status s = op.Stage("record.stopping", [&] {
    return store_.Update(
        vm->id,
        [&](VmRecord& r) {
          if (r.state != VmState::kError) r.state = VmState::kStopping;
          r.updated_at_ms = UnixMillis();
          return Status::Ok();
        },
        VmStore::Sync::kDataOnly);
  });
  if (!s) return s.Prefixed(who + ": stop failed at record.stopping");

  s = op.Stage(kill ? "vmm.kill" : "vmm.stop", [&](std::string& detail) {
    ProcessIdentity vmm{static_cast<pid_t>(vm->runtime.pid), vm->runtime.pid_start_time};
    if (vmm.pid <= 0) {
      // No PID recorded (the agent died between spawn and recording it): any
      // process with this VM's API socket is its VMM.
      int n = KillStrays(*vm, ScanVmms());
      detail = n ? "killed " + std::to_string(n) + " unrecorded VMM process(es)" : "no VMM";
      return Status::Ok();
    }
    if (kill) {
      detail = "sigkill";
      return KillVmm(vmm);
    }
    auto outcome = StopVmm(vmm, vm->runtime.api_socket, options_.vmm_stop_timeout);
    if (!outcome) return outcome.status();
    detail = StopStepName(outcome->step);
    if (!outcome->detail.empty()) detail += " (" + outcome->detail + ")";
    return Status::Ok();
  });
  if (!s)
    return s.Prefixed(who + ": stop failed at " + std::string(kill ? "vmm.kill" : "vmm.stop"));

  if (!vm->runtime.jail_root.empty()) {
    // A jail that will not go (a cgroup still busy) is said, and the stop
    // goes on: capabilities still clean up; reconcile removes it later.
    if (Status j = op.Stage("jail", [&] { return RemoveJailOf(*vm); }); !j) {
      logger_.Warn("core", who + ": " + j.message() + "; reconcile retries");
    }
  }
  auto fresh = store_.Get(vm->id);
  if (!fresh) return fresh.status();
  // The handles of the capabilities that cleaned up are cleared with the
  // "stopped" record, in its one commit: until it lands, the record still
  // names every object, and a cleanup run again finds them gone (OK).
  handles_.Hold(vm->id);
  Status cleaned = op.Stage("cleanup", [&] { return CleanupCapabilities(**fresh); });
  uint32_t cid = 0;
  s = op.Stage("record.stopped", [&] {
    return store_.Update(
        vm->id,
        [&](VmRecord& r) {
          handles_.ApplyHeld(vm->id, r);
          r.state = cleaned ? VmState::kStopped : VmState::kError;
          r.last_error = cleaned ? "" : "cleanup failed: " + cleaned.message();
          cid = r.runtime.vsock_cid;
          r.runtime.pid = 0;
          r.runtime.pid_start_time = 0;
          r.runtime.vmm_state.clear();
          r.runtime.started_at_ms = 0;
          r.last_stop_reason = reason;
          r.stopped_at_ms = r.updated_at_ms = UnixMillis();
          return Status::Ok();
        },
        VmStore::Sync::kDataOnly);
  });
  handles_.Release(vm->id, /*written=*/s.ok());
  if (cid) ReleaseCid(cid);
  if (!cleaned) return cleaned.Prefixed(who + ": stopped, but cleanup failed");
  if (!s) return s.Prefixed(who + ": stop failed at record.stopped");
  return store_.Get(vm->id);
}

Status VmLifecycle::CleanupCapabilities(const VmRecord& vm) {
  banger_vm view = MakeVmView(vm);
  std::vector<std::string> failed;
  Status s = dispatcher_.Cleanup(view, &failed);
  ClearHandlesExcept(vm, failed);
  return s;
}

void VmLifecycle::ClearHandlesExcept(const VmRecord& vm, const std::vector<std::string>& failed) {
  // Only handles of capabilities that ran their cleanup successfully: a
  // failed one keeps them, so the next cleanup still finds its objects.
  for (Plugin* p : dispatcher_.Running()) {
    if (std::find(failed.begin(), failed.end(), p->name) != failed.end()) continue;
    if (vm.handles.count(p->name) == 0) continue;
    if (Status s = handles_.Clear(vm.id, p->name, ""); !s) {
      logger_.Warn("core", Quoted(vm.name) + ": clear handles of " + p->name + ": " + s.message());
    }
  }
}

// ---- remove, touch ----

std::optional<VmLifecycle::CorruptVm> VmLifecycle::DescribeCorrupt(const std::string& ref) const {
  auto c = store_.FindCorrupt(ref);
  if (!c) return std::nullopt;
  CorruptVm v{*c, VmPathsFor(options_.state_dir, c->id).dir, false, {}};
  v.dir_exists = std::filesystem::exists(v.dir);
  auto scan = ScanVmms();
  for (const auto& socket : ApiSocketsOf(c->id)) {
    if (auto it = scan.find(socket); it != scan.end()) {
      for (const auto& p : it->second) v.vmm_pids.push_back(p.pid);
    }
  }
  return v;
}

Status VmLifecycle::RemoveCorrupt(const CorruptRecord& c, const StageObserver& observer) {
  Operation op(ops_, "vm.rm", c.name.empty() ? "?" : c.name, c.id, observer);
  auto guard = locks_.Acquire(c.id);
  VmPaths paths = VmPathsFor(options_.state_dir, c.id);
  int stopped = 0;
  Status s = op.Stage("vmm.kill", [&] {
    VmRecord known;  // all that is known of it: its id
    known.id = c.id;
    stopped = KillStrays(known, ScanVmms());
    return Status::Ok();
  });
  if (s)
    s = op.Stage("files", [&] {
      if (options_.jail.enabled()) {
        if (Status j = RemoveJail(JailOf(c.id), options_.jail.parent_cgroup + "/" + c.id); !j)
          return j;
      }
      return RemoveVmFiles(paths);
    });
  if (s) s = op.Stage("record", [&] { return store_.Delete(c.id); });
  handles_.Forget(c.id);
  if (s) ForgetFindings(c.id);
  op.Finish(s);
  if (!s) return s.Prefixed("vm " + c.id + ": rm --force");
  // Its capabilities' objects are named in the record it no longer has.
  logger_.Warn("core", "vm " + c.id +
                           ": corrupt record removed (rm --force): " + std::to_string(stopped) +
                           " VMM(s) ended, directory removed; what capabilities made for it (TAP, "
                           "NAT entries) could not be read from the record: check the host");
  return Status::Ok();
}

Status VmLifecycle::Remove(const std::string& ref, bool force, const StageObserver& observer) {
  auto found = store_.Resolve(ref);
  if (!found) {
    StatusCode why = found.status().code();
    auto corrupt = why == StatusCode::kCorrupt || why == StatusCode::kNotFound
                       ? store_.FindCorrupt(ref)
                       : std::nullopt;
    if (!corrupt) return found.status().Prefixed("rm " + ref);
    if (!force) {
      return Status::Corrupt("rm " + ref + ": vm " + corrupt->id + " has a corrupt record (" +
                             corrupt->error +
                             "); rm --force ends its VMM and removes its files and record");
    }
    return RemoveCorrupt(*corrupt, observer);
  }
  Operation op(ops_, "vm.rm", (*found)->name, (*found)->id, observer);
  auto guard = locks_.Acquire((*found)->id);
  auto current = store_.Get((*found)->id);
  if (!current) {
    op.Finish(current.status());
    return current.status();
  }
  const VmRecordPtr& vm = *current;
  bool needs_stop = IsActive(vm->state) || (vm->state == VmState::kError && !vm->handles.empty());
  if (needs_stop) {
    if (!force) {
      Status busy =
          Status::Conflict(Quoted(vm->name) + " is " + std::string(VmStateName(vm->state)) +
                           "; stop it first, or rm --force to stop and remove it");
      op.Finish(busy);
      return busy;
    }
    auto stopped = StopLocked(vm, /*kill=*/false, "user (rm --force)", op);
    if (!stopped) {
      op.Finish(stopped.status());
      return stopped.status();
    }
  }
  Status s = op.Stage("files", [&] {
    if (Status j = RemoveJailOf(*vm); !j) return j;
    return RemoveVmFiles(VmPathsFor(options_.state_dir, vm->id));
  });
  if (s) s = op.Stage("record", [&] { return store_.Delete(vm->id); });
  handles_.Forget(vm->id);
  if (s) ForgetFindings(vm->id);
  op.Finish(s);
  return s.Prefixed(Quoted(vm->name) + ": rm");
}

Result<std::string> VmLifecycle::RunVerb(const std::string& ref, const std::string& capability,
                                         const std::string& verb, const std::string& args_json) {
  auto found = store_.Resolve(ref);
  if (!found) return found.status();
  auto guard = locks_.Acquire((*found)->id);
  auto current = store_.Get((*found)->id);  // as it is now, not before the wait
  if (!current) return current.status();
  banger_vm view = MakeVmView(**current);
  auto reply = dispatcher_.Query(capability, verb, view, args_json);
  // Its refusal is about this VM and its state (stats of a stopped VM).
  if (!reply) return Status::Conflict(Quoted((*current)->name) + ": " + reply.status().message());
  return reply;
}

Result<VmRecordPtr> VmLifecycle::Touch(const std::string& ref) {
  auto found = store_.Resolve(ref);
  if (!found) return found.status().Prefixed("touch " + ref);
  auto guard = locks_.Acquire((*found)->id);
  Status s = store_.Update((*found)->id, [&](VmRecord& r) {
    r.last_touched_at_ms = UnixMillis();
    return Status::Ok();
  });
  if (!s) return s;
  return store_.Get((*found)->id);
}

// ---- services for capabilities ----

ServiceStatus VmLifecycle::AddNetworkInterface(const std::string& capability,
                                               const std::string& vm_id,
                                               const banger_net_iface& iface) {
  std::lock_guard lock(mu_);
  auto it = preparing_.find(vm_id);
  if (it == preparing_.end() || it->second.preparing != capability) {
    return {BANGER_INVALID,
            "vmm_add_network_interface is allowed only inside your prepare hook for that VM"};
  }
  if (!iface.iface_id || !*iface.iface_id || !iface.host_dev_name || !*iface.host_dev_name) {
    return {BANGER_INVALID, "vmm_add_network_interface: iface_id and host_dev_name are required"};
  }
  for (const auto& existing : it->second.interfaces) {
    if (existing.iface_id == iface.iface_id) {
      return {BANGER_INVALID, std::string("interface ") + iface.iface_id + " is already added"};
    }
  }
  it->second.interfaces.push_back(
      {iface.iface_id, iface.host_dev_name, iface.guest_mac ? iface.guest_mac : ""});
  return ServiceStatus::Ok();
}

ServiceStatus VmLifecycle::AppendBootArgs(const std::string& capability, const std::string& vm_id,
                                          const std::string& args) {
  std::lock_guard lock(mu_);
  auto it = preparing_.find(vm_id);
  if (it == preparing_.end() || it->second.preparing != capability) {
    return {BANGER_INVALID,
            "vmm_append_boot_args is allowed only inside your prepare hook for that VM"};
  }
  it->second.boot_args.push_back(args);
  return ServiceStatus::Ok();
}

ServiceStatus VmLifecycle::RequestStop(const std::string& capability, const std::string& vm_id,
                                       const std::string& reason) {
  auto found = store_.Get(vm_id);
  if (!found) return {ToBangerCode(found.status()), found.status().message()};
  auto guard = locks_.TryAcquire(vm_id);
  if (!guard) {
    return {BANGER_BUSY, Quoted((*found)->name) + " is busy in another operation; try later"};
  }
  Operation op(ops_, StopOperationFor(reason), (*found)->name, vm_id);
  auto current = store_.Get(vm_id);
  if (!current) {
    op.Finish(current.status());
    return {ToBangerCode(current.status()), current.status().message()};
  }
  auto r = StopLocked(*current, /*kill=*/false, capability + ": " + reason, op);
  op.Finish(r ? Status::Ok() : r.status());
  if (!r) return {ToBangerCode(r.status()), r.status().message()};
  return ServiceStatus::Ok();
}

}  // namespace banger::core
