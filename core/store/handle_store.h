// HandleStore: capabilities' per-VM handles (the identity of the kernel
// objects they created) behind a per-VM in-memory cache that writes through
// to the VM's record. A Set is committed durably before it returns; a Get
// looks in the cache, then in the record. While a VM's start holds its
// handles (Hold: the capabilities' reserve hooks), its Sets and Clears go to
// the cache and wait there, and the start writes them into its own record
// (ApplyHeld), in the transaction that records it starting. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "core/store/vm_record.h"
#include "core/store/vm_store.h"

namespace banger::core {

class HandleStore {
 public:
  explicit HandleStore(VmStore& store) : store_(store) {}

  // NotFound (naming the sources consulted) when neither has a value.
  Result<std::string> Get(const std::string& vm_id, const std::string& capability,
                          const std::string& key);
  // Committed before it returns; NotFound when the VM has no record.
  // Durability: handle writes survive the agent's death at any instant (they
  // are committed to the file); they skip the store's second fsync (the meta
  // page), so a crash of the whole host may undo the latest ones, as it
  // undoes the kernel objects they describe. Store integrity is kept either way.
  Status Set(const std::string& vm_id, const std::string& capability, const std::string& key,
             const std::string& value);
  // Several keys of one capability, one commit.
  Status SetMany(const std::string& vm_id, const std::string& capability,
                 const std::vector<std::pair<std::string, std::string>>& values);
  // key "" clears all of the capability's keys. Clearing what is not set is OK.
  Status Clear(const std::string& vm_id, const std::string& capability, const std::string& key);

  // A start's reservation, under the VM's lock: from Hold until Release, Set,
  // SetMany and Clear of `vm_id` change the cache only (Gets see them) and
  // are kept, in order; ApplyHeld writes them into `record`, a copy of the
  // VM's record the caller is about to commit; Release(true) once that
  // commit landed (the cache is then what the record holds), Release(false)
  // when it did not (the cache forgets the VM; the record is read again).
  void Hold(const std::string& vm_id);
  void ApplyHeld(const std::string& vm_id, VmRecord& record) const;
  void Release(const std::string& vm_id, bool written);

  // Drops the cache (of one VM, or of all): what an agent restart does.
  void Forget(const std::string& vm_id);
  void ForgetAll();

 private:
  VmStore& store_;
  mutable std::mutex mu_;
  // A Set or Clear waiting for its start's commit: value nullopt clears
  // `key` ("" : all of the capability's keys).
  struct HeldChange {
    std::string capability, key;
    std::optional<std::string> value;
  };
  // Applies `change` to `handles` (a record's or the cache's).
  static void ApplyChange(const HeldChange& change, VmHandles& handles);

  std::map<std::string, VmHandles> cache_;  // vm id -> handles, as last read or written
  std::map<std::string, std::vector<HeldChange>> held_;  // vm id -> changes waiting
  uint64_t writes_ = 0;  // Sets, Clears and Forgets so far: a Get fills the cache only if none
                         // landed while it read the record
};

}  // namespace banger::core
