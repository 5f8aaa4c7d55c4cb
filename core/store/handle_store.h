// HandleStore: capabilities' per-VM handles (the identity of the kernel
// objects they created) behind a per-VM in-memory cache that writes through
// to the VM's record. A Set is committed durably before it returns; a Get
// looks in the cache, then in the record. Thread-safe.
#pragma once

#include <map>
#include <mutex>
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

  // Drops the cache (of one VM, or of all): what an agent restart does.
  void Forget(const std::string& vm_id);
  void ForgetAll();

 private:
  VmStore& store_;
  std::mutex mu_;
  std::map<std::string, VmHandles> cache_;  // vm id -> handles, as last read or written
  uint64_t writes_ = 0;  // Sets, Clears and Forgets so far: a Get fills the cache only if none
                         // landed while it read the record
};

}  // namespace banger::core
