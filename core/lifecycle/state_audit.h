// StateAudit: the records cross-checked against what the host shows: the VM
// directories under <state_dir>/vms and the processes serving an API socket
// in one of them. Each mismatch is a finding for the operator (the log, and
// `bangerctl vm ls`); nothing found is removed, reused or stopped: the
// operator decides. Pure over its inputs apart from listing the directory.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/store/vm_store.h"
#include "core/vmm/process_identity.h"

namespace banger::core {

struct AuditFinding {
  // "directory without a record", "record without a directory",
  // "VMM without a record"
  std::string kind;
  std::string vm_id;
  std::string detail;  // one line: what is there, what to do
  bool operator==(const AuditFinding&) const = default;
};

// `scan`: ScanApiSocketProcesses(). Records still being created have no
// directory yet and are not findings.
std::vector<AuditFinding> AuditState(
    const VmListing& listing, const std::string& state_dir,
    const std::map<std::string, std::vector<ProcessIdentity>>& scan);

}  // namespace banger::core
