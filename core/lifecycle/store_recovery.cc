#include "core/lifecycle/store_recovery.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

// The store directory as a new, empty place: what was there is moved aside.
Result<std::string> MoveAside(const std::string& store_dir) {
  std::error_code ec;
  if (!std::filesystem::exists(store_dir, ec)) return std::string();
  std::string aside = store_dir + ".replaced-" + UtcTimestamp(UnixMillis());
  std::filesystem::rename(store_dir, aside, ec);
  if (ec) return Status::Error("cannot move " + store_dir + " aside: " + ec.message());
  return aside;
}

Status CopyIn(const std::string& copy_dir, const std::string& store_dir) {
  if (::mkdir(store_dir.c_str(), 0700) != 0) {
    return Status::Error("cannot create " + store_dir + ": " + std::strerror(errno));
  }
  std::string to = store_dir + "/data.mdb";
  if (Status s = CopyOnWriteFile(copy_dir + "/data.mdb", to); !s) return s;
  UniqueFd f(::open(to.c_str(), O_RDONLY | O_CLOEXEC));
  if (!f.valid() || ::fsync(f.get()) != 0) {
    return Status::Error("sync " + to + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

Result<StoreRecoveryReport> RecoverStore(const std::string& state_dir,
                                         const std::string& copies_dir) {
  StoreRecoveryReport report;
  const std::string store_dir = state_dir + "/store";

  // 1. The newest copy that reads back whole.
  std::string copy_name;
  for (const StoreCopy& copy : StoreCopies(copies_dir, 1).List()) {
    auto checked = StoreCopies::Check(copy.dir);
    if (checked && checked->corrupt == 0) {
      report.copy_used = copy.dir;
      copy_name = copy.name;
      break;
    }
    report.copies_refused.push_back(
        copy.dir + ": " +
        (checked ? std::to_string(checked->corrupt) + " records do not decode"
                 : checked.status().message()));
  }

  // 2. A new store in place of the old one (kept aside), from that copy.
  auto aside = MoveAside(store_dir);
  if (!aside) return aside.status();
  report.old_store_kept_at = *aside;
  if (!report.copy_used.empty()) {
    if (Status s = CopyIn(report.copy_used, store_dir); !s) return s;
  }
  auto opened = VmStore::Open({store_dir});
  if (!opened) return opened.status().Prefixed("the rebuilt store");
  VmStore& store = **opened;

  // 3. What the host shows: VM directories and the VMMs serving them.
  const Scan scan = ScanApiSocketProcesses();
  std::set<std::string> dirs;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(state_dir + "/vms", ec)) {
    std::string id = e.path().filename().string();
    if (IsVmId(id) && e.is_directory(ec)) dirs.insert(id);
  }

  std::vector<VmRecord> writes;
  std::vector<std::string> drops;
  std::set<std::string> names;
  // 3a. Each VM of the copy, checked against its directory and its VMM.
  for (const VmRecordPtr& rec : store.List().records) {
    VmPaths paths = VmPathsFor(state_dir, rec->id);
    if (!dirs.count(rec->id)) {
      drops.push_back(rec->id);
      report.vms.push_back({RecoveredVm::Outcome::kNotRestored, rec->id, rec->name,
                            "in copy " + copy_name + ", but its directory " + paths.dir +
                                " is gone (removed after the copy was taken); left out"});
      continue;
    }
    names.insert(rec->name);
    std::string detail =
        "from copy " + copy_name + ", recorded " + std::string(VmStateName(rec->state));
    auto vmm = LiveVmm(scan, paths);
    bool recorded_vmm = vmm && IsActive(rec->state) && rec->runtime.pid == vmm->pid &&
                        rec->runtime.pid_start_time == vmm->start_time;
    if (vmm && !recorded_vmm) {
      VmRecord r = *rec;
      RecordRunning(r, paths, *vmm);
      r.updated_at_ms = UnixMillis();
      writes.push_back(std::move(r));
      detail += "; its VMM runs (pid " + std::to_string(vmm->pid) +
                ", started after the copy), so it is recorded running";
    } else if (vmm) {
      detail += "; its VMM runs (pid " + std::to_string(vmm->pid) + ")";
    } else if (IsActive(rec->state)) {
      detail += "; no VMM runs: the agent finishes its stop at start";
    }
    report.vms.push_back({RecoveredVm::Outcome::kRestored, rec->id, rec->name, detail});
  }
  // 3b. Each directory the copy does not know: rebuilt from its manifest.
  for (const std::string& id : dirs) {
    if (store.Get(id)) continue;
    VmPaths paths = VmPathsFor(state_dir, id);
    auto vmm = LiveVmm(scan, paths);
    std::string vmm_note =
        vmm ? "; its VMM (pid " + std::to_string(vmm->pid) + ") keeps running, unmanaged" : "";
    auto bytes = ReadVmManifest(paths);
    auto manifest = bytes ? DecodeVmRecord(*bytes, id) : Result<VmRecord>(bytes.status());
    if (!manifest || manifest->id != id) {
      std::string why =
          manifest ? "its manifest names another id, " + manifest->id : manifest.status().message();
      report.vms.push_back(
          {RecoveredVm::Outcome::kNotRestored, id, "",
           "its directory " + paths.dir + " has no usable manifest (" + why +
               "); its files are left in place and reported as a directory without a record" +
               vmm_note});
      continue;
    }
    VmRecord r = std::move(manifest.value());
    std::string detail = "from its directory's manifest (name and spec as at create; " +
                         std::string("capability handles are rediscovered)");
    if (names.count(r.name)) {
      std::string renamed = r.name.substr(0, 54) + "-" + r.short_id();
      detail += "; its name was taken by another VM, so it is now " + renamed;
      r.name = renamed;
    }
    names.insert(r.name);
    r.updated_at_ms = UnixMillis();
    r.handles.clear();
    if (vmm) {
      RecordRunning(r, paths, *vmm);
      detail += "; its VMM runs (pid " + std::to_string(vmm->pid) + "): recorded running";
    } else if (::access(paths.log_path.c_str(), F_OK) != 0) {
      // No VMM ever wrote its log here: it was never started.
      r.state = VmState::kCreated;
      detail += "; never started (no VMM log): recorded created";
    } else {
      // It ran: stopping it makes the agent's reconcile ask every capability
      // to clean up whatever it finds for it.
      r.state = VmState::kStopping;
      detail += "; no VMM runs: the agent finishes its stop at start";
    }
    report.vms.push_back({RecoveredVm::Outcome::kRebuiltPartially, id, r.name, detail});
    writes.push_back(std::move(r));
  }

  // 4. Into the store: what is gone, then every rebuilt record in one commit
  // (a recovery cut short is run again: the copy is never changed).
  for (const std::string& id : drops) {
    if (Status s = store.Delete(id); !s) return s;
  }
  if (!writes.empty()) {
    if (Status s = store.UpsertMany(writes); !s) return s.Prefixed("the rebuilt store");
  }
  std::sort(report.vms.begin(), report.vms.end(),
            [](const RecoveredVm& a, const RecoveredVm& b) { return a.id < b.id; });
  return report;
}

}  // namespace banger::core
