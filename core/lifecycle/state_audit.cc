#include "core/lifecycle/state_audit.h"

#include <filesystem>
#include <set>

#include "core/lifecycle/vm_files.h"

namespace banger::core {

std::vector<AuditFinding> AuditState(
    const VmListing& listing, const std::string& state_dir,
    const std::map<std::string, std::vector<ProcessIdentity>>& scan) {
  std::vector<AuditFinding> out;
  std::set<std::string> known;
  for (const auto& r : listing.records) known.insert(r->id);
  for (const auto& c : listing.corrupt) known.insert(c.id);

  const std::string vms = state_dir + "/vms";
  std::error_code ec;
  std::set<std::string> dirs;
  for (const auto& e : std::filesystem::directory_iterator(vms, ec)) {
    std::string id = e.path().filename().string();
    std::error_code type_ec;
    if (!IsVmId(id) || !e.is_directory(type_ec)) continue;  // not a VM's directory
    dirs.insert(id);
    if (known.count(id)) continue;
    out.push_back({"directory without a record", id,
                   e.path().string() + " belongs to no VM record; left in place (remove it by hand "
                                       "once nothing in it is needed)"});
  }
  for (const auto& r : listing.records) {
    if (r->state == VmState::kCreating || dirs.count(r->id)) continue;
    out.push_back({"record without a directory", r->id,
                   "vm \"" + r->name + "\": " + VmPathsFor(state_dir, r->id).dir +
                       " is gone; the VM cannot start (remove it with bangerctl vm rm)"});
  }
  const std::string prefix = vms + "/";
  for (const auto& [socket, procs] : scan) {
    if (socket.rfind(prefix, 0) != 0) continue;
    std::string id = socket.substr(prefix.size(), socket.find('/', prefix.size()) - prefix.size());
    if (known.count(id)) continue;
    for (const auto& p : procs) {
      out.push_back({"VMM without a record", id,
                     "pid " + std::to_string(p.pid) + " serves " + socket +
                         " for no VM record; left running (stop it by hand if it is not wanted)"});
    }
  }
  return out;
}

}  // namespace banger::core
