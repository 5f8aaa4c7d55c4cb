#include "core/lifecycle/store_recovery.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "core/base/clock.h"
#include "core/base/unique_fd.h"
#include "core/lifecycle/vm_files.h"
#include "core/store/store_copies.h"
#include "core/store/vm_store.h"
#include "core/vmm/process_identity.h"

namespace banger::core {

std::string_view OutcomeName(RecoveredVm::Outcome o) {
  switch (o) {
    case RecoveredVm::Outcome::kRestored:
      return "restored";
    case RecoveredVm::Outcome::kRebuiltPartially:
      return "rebuilt partially";
    case RecoveredVm::Outcome::kNotRestored:
      return "not restored";
  }
  return "?";
}

namespace {

using Scan = std::map<std::string, std::vector<ProcessIdentity>>;

// The VMM serving this VM's API socket now, if one does.
std::optional<ProcessIdentity> LiveVmm(const Scan& scan, const VmPaths& paths) {
  auto it = scan.find(paths.api_socket);
  if (it == scan.end() || it->second.empty()) return std::nullopt;
  return it->second.front();
}

// Records `vmm` as this VM's running VMM, with the paths it serves.
void RecordRunning(VmRecord& r, const VmPaths& paths, const ProcessIdentity& vmm) {
  r.state = VmState::kRunning;
  r.runtime.pid = vmm.pid;
  r.runtime.pid_start_time = vmm.start_time;
  r.runtime.api_socket = paths.api_socket;
  r.runtime.vsock_path = paths.vsock_path;
  r.runtime.metrics_path = paths.metrics_path;
  r.runtime.log_path = paths.log_path;
}

Status SyncDir(const std::string& dir) {
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d.valid() || ::fsync(d.get()) != 0) {
    return Status::Error("sync " + dir + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Status CopyIn(const std::string& copy_dir, const std::string& store_dir) {
  std::string to = store_dir + "/data.mdb";
  if (Status s = CopyOnWriteFile(copy_dir + "/data.mdb", to); !s) return s;
  UniqueFd f(::open(to.c_str(), O_RDONLY | O_CLOEXEC));
  if (!f.valid() || ::fsync(f.get()) != 0) {
    return Status::Error("sync " + to + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// A VM rebuilt from its directory's manifest. Only what a manifest is for is
// taken from it (id, name, spec, when it was created); everything else,
// paths above all, follows from the directory, so a manifest written by
// someone else cannot point the VMM at another file. The file must be a
// regular file of the agent's own.
Result<VmRecord> FromManifest(const VmPaths& paths, const std::string& id) {
  struct stat st {};
  if (::lstat(paths.manifest_path.c_str(), &st) != 0) {
    return Status::NotFound(paths.manifest_path + " does not exist");
  }
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
    return Status::Invalid(paths.manifest_path + " is not a regular file of the agent's user");
  }
  auto bytes = ReadVmManifest(paths);
  if (!bytes) return bytes.status();
  auto manifest = DecodeVmRecord(*bytes, id);
  if (!manifest) return manifest.status();
  if (manifest->id != id) return Status::Invalid("its manifest names another id, " + manifest->id);
  VmRecord r;
  r.id = id;
  r.name = manifest->name;
  r.spec = manifest->spec;
  r.created_at_ms = manifest->created_at_ms;
  r.last_touched_at_ms = r.updated_at_ms = UnixMillis();
  r.state = VmState::kCreated;
  r.runtime.overlay_path = paths.overlay_path;
  r.runtime.work_disk_path = r.spec.work_disk_bytes > 0 ? paths.work_disk_path : "";
  r.runtime.log_path = paths.log_path;
  return r;
}

}  // namespace

Result<StoreRecoveryReport> RecoverStore(const std::string& state_dir,
                                         const std::string& copies_dir) {
  StoreRecoveryReport report;
  const std::string store_dir = state_dir + "/store";
  // Built aside and renamed into place once whole: a recovery cut short
  // leaves the old store where it was, and is simply run again.
  const std::string building = state_dir + "/store.recovering";
  std::error_code ec;
  std::filesystem::remove_all(building, ec);
  if (::mkdir(building.c_str(), 0700) != 0) {
    return Status::Error("cannot create " + building + ": " + std::strerror(errno));
  }

  // 1. The newest copy that reads back (its corrupt records, if any, are
  // rebuilt from their directories like the VMs it does not hold).
  std::string copy_name;
  for (const StoreCopy& copy : StoreCopies(copies_dir, 1).List()) {
    auto checked = StoreCopies::Check(copy.dir);
    if (checked) {
      report.copy_used = copy.dir;
      copy_name = copy.name;
      break;
    }
    report.copies_refused.push_back(copy.dir + ": " + checked.status().message());
  }
  if (!report.copy_used.empty()) {
    if (Status s = CopyIn(report.copy_used, building); !s) return s;
  }
  std::vector<VmRecord> writes;
  std::vector<std::string> drops;
  {
    auto opened = VmStore::Open({building});
    if (!opened) return opened.status().Prefixed("the rebuilt store");
    VmStore& store = **opened;
    VmListing copied = store.List();
    for (const auto& c : copied.corrupt) drops.push_back(c.id);

    // 2. What the host shows: VM directories and the VMMs serving them.
    const Scan scan = ScanApiSocketProcesses();
    std::set<std::string> dirs;
    for (const auto& e : std::filesystem::directory_iterator(state_dir + "/vms", ec)) {
      std::string id = e.path().filename().string();
      if (IsVmId(id) && e.is_directory(ec)) dirs.insert(id);
    }

    std::set<std::string> names, restored;
    // 2a. Each VM of the copy, checked against its directory and its VMM.
    for (const VmRecordPtr& rec : copied.records) {
      VmPaths paths = VmPathsFor(state_dir, rec->id);
      if (!dirs.count(rec->id)) {
        drops.push_back(rec->id);
        report.vms.push_back({RecoveredVm::Outcome::kNotRestored, rec->id, rec->name,
                              "in copy " + copy_name + ", but its directory " + paths.dir +
                                  " is gone (removed after the copy was taken); left out"});
        continue;
      }
      restored.insert(rec->id);
      names.insert(rec->name);
      VmRecord r = *rec;
      std::string detail =
          "from copy " + copy_name + ", recorded " + std::string(VmStateName(rec->state));
      auto vmm = LiveVmm(scan, paths);
      bool recorded_vmm = vmm && IsActive(rec->state) && rec->runtime.pid == vmm->pid &&
                          rec->runtime.pid_start_time == vmm->start_time;
      if (!recorded_vmm && !r.handles.empty()) {
        // Handles of a run that is over: the objects they name may be
        // another VM's since. Capabilities find their own by rediscovery.
        r.handles.clear();
        detail += "; its handles from the copy are dropped (rediscovered when needed)";
      }
      if (rec->state == VmState::kCreating && ReadVmManifest(paths)) {
        r.state = VmState::kCreated;  // its create finished after the copy
        detail += "; its create finished (its manifest is written): recorded created";
      }
      if (vmm && !recorded_vmm) {
        RecordRunning(r, paths, *vmm);
        detail += "; its VMM runs (pid " + std::to_string(vmm->pid) +
                  ", started after the copy), so it is recorded running";
      } else if (vmm) {
        detail += "; its VMM runs (pid " + std::to_string(vmm->pid) + ")";
      } else if (IsActive(rec->state)) {
        detail += "; no VMM runs: the agent finishes its stop at start";
      }
      if (!(r == *rec)) {
        r.updated_at_ms = UnixMillis();
        writes.push_back(std::move(r));
      }
      report.vms.push_back({RecoveredVm::Outcome::kRestored, rec->id, rec->name, detail});
    }
    // 2b. Each directory the copy does not hold (or holds corrupt): rebuilt
    // from its manifest.
    for (const std::string& id : dirs) {
      if (restored.count(id)) continue;
      VmPaths paths = VmPathsFor(state_dir, id);
      auto vmm = LiveVmm(scan, paths);
      std::string vmm_note =
          vmm ? "; its VMM (pid " + std::to_string(vmm->pid) + ") keeps running, unmanaged" : "";
      auto rebuilt = FromManifest(paths, id);
      if (!rebuilt) {
        report.vms.push_back(
            {RecoveredVm::Outcome::kNotRestored, id, "",
             "its directory " + paths.dir + " has no usable manifest (" +
                 rebuilt.status().message() +
                 "); its files are left in place and reported as a directory without a record" +
                 vmm_note});
        continue;
      }
      VmRecord r = std::move(rebuilt.value());
      std::string detail =
          "from its directory's manifest (name and spec as at create; capability handles are "
          "rediscovered)";
      if (names.count(r.name)) {
        std::string renamed = r.name.substr(0, 54) + "-" + r.short_id();
        detail += "; its name was taken by another VM, so it is now " + renamed;
        r.name = renamed;
      }
      names.insert(r.name);
      if (vmm) {
        RecordRunning(r, paths, *vmm);
        detail += "; its VMM runs (pid " + std::to_string(vmm->pid) + "): recorded running";
      } else if (::access(paths.log_path.c_str(), F_OK) != 0) {
        detail += "; never started (no VMM log): recorded created";
      } else {
        // It ran: stopping it makes the agent's reconcile ask every
        // capability to clean up whatever it finds for it.
        r.state = VmState::kStopping;
        detail += "; no VMM runs: the agent finishes its stop at start";
      }
      report.vms.push_back({RecoveredVm::Outcome::kRebuiltPartially, id, r.name, detail});
      writes.push_back(std::move(r));
    }

    // 3. Into the new store: what is gone, and every rebuilt record.
    for (const std::string& id : drops) {
      if (Status s = store.Delete(id); !s) return s.Prefixed("the rebuilt store");
    }
    if (!writes.empty()) {
      if (Status s = store.UpsertMany(writes); !s) return s.Prefixed("the rebuilt store");
    }
  }

  // 4. Into place: the old store aside (never deleted), the new one renamed.
  if (std::filesystem::exists(store_dir, ec)) {
    report.old_store_kept_at = store_dir + ".replaced-" + UtcTimestamp(UnixMillis());
    std::filesystem::rename(store_dir, report.old_store_kept_at, ec);
    if (ec) return Status::Error("cannot move " + store_dir + " aside: " + ec.message());
  }
  std::filesystem::rename(building, store_dir, ec);
  if (ec) return Status::Error("cannot move " + building + " into place: " + ec.message());
  if (Status s = SyncDir(state_dir); !s) return s;
  std::sort(report.vms.begin(), report.vms.end(),
            [](const RecoveredVm& a, const RecoveredVm& b) { return a.id < b.id; });
  return report;
}

}  // namespace banger::core
