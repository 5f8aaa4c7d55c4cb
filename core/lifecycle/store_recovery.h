// `bangerd --recover-store`: rebuilds a lost or damaged store, with the agent
// stopped, from what is left: the newest copy that reads back whole
// (StoreCopies), then each VM directory's manifest (the record as at create)
// and the VMMs still running. The store it replaces is moved aside, never
// deleted. Every VM is accounted for in the report: restored from the copy,
// rebuilt partially (from its directory, with its state taken from the
// host), or not restored (and why; its files are left where they are).
//
// Capability handles are not rebuilt here: a rebuilt VM has none, and each
// capability's rediscover finds its objects again when the agent asks.
#pragma once

#include <string>
#include <vector>

#include "core/base/status.h"

namespace banger::core {

struct RecoveredVm {
  enum class Outcome { kRestored, kRebuiltPartially, kNotRestored };
  Outcome outcome;
  std::string id;
  std::string name;  // "" when not known
  std::string detail;
};
std::string_view OutcomeName(RecoveredVm::Outcome o);  // "restored", ...

struct StoreRecoveryReport {
  std::string copy_used;                    // the copy's directory, or "" when none was good
  std::vector<std::string> copies_refused;  // "<dir>: why"
  std::string old_store_kept_at;            // where the replaced store was moved, or ""
  std::vector<RecoveredVm> vms;             // by id
};

// `state_dir` must be locked by the caller (StateDirLock): no agent runs.
Result<StoreRecoveryReport> RecoverStore(const std::string& state_dir,
                                         const std::string& copies_dir);

}  // namespace banger::core
