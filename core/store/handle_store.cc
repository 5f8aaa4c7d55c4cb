#include "core/store/handle_store.h"

#include "core/base/fault_point.h"

namespace banger::core {

Result<std::string> HandleStore::Get(const std::string& vm_id, const std::string& capability,
                                     const std::string& key) {
  uint64_t writes_before = 0;
  {
    std::lock_guard lock(mu_);
    writes_before = writes_;
    auto vm = cache_.find(vm_id);
    if (vm != cache_.end()) {
      auto cap = vm->second.find(capability);
      if (cap != vm->second.end()) {
        auto it = cap->second.find(key);
        if (it != cap->second.end()) return it->second;
      }
    }
  }
  auto found = store_.Get(vm_id);
  if (!found) {
    if (found.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("no handle " + capability + "." + key + " for vm " + vm_id +
                              " (handle cache empty, no record of the VM)");
    }
    return found.status();
  }
  const VmRecordPtr& record = *found;
  BANGER_FAULT_POINT("handle_store.get.record_read");
  std::lock_guard lock(mu_);
  // The record is authoritative for what the cache did not hold, unless a
  // write landed since it was read: then it may hold what was just cleared,
  // and the cache (which that write updated) is left as it is.
  if (writes_ == writes_before) {
    VmHandles& cached = cache_[vm_id];
    for (const auto& [cap, keys] : record->handles) {
      for (const auto& [k, v] : keys) cached[cap].emplace(k, v);
    }
  }
  auto cap = record->handles.find(capability);
  if (cap != record->handles.end()) {
    auto it = cap->second.find(key);
    if (it != cap->second.end()) return it->second;
  }
  return Status::NotFound("no handle " + capability + "." + key + " for vm \"" + record->name +
                          "\" (handle cache empty, record has none)");
}

Status HandleStore::Set(const std::string& vm_id, const std::string& capability,
                        const std::string& key, const std::string& value) {
  return SetMany(vm_id, capability, {{key, value}});
}

Status HandleStore::SetMany(const std::string& vm_id, const std::string& capability,
                            const std::vector<std::pair<std::string, std::string>>& values) {
  if (capability.empty()) return Status::Invalid("handle capability must not be empty");
  for (const auto& kv : values) {
    if (kv.first.empty()) return Status::Invalid("handle keys must not be empty");
  }
  Status s = store_.Update(
      vm_id,
      [&](VmRecord& r) {
        for (const auto& [k, v] : values) r.handles[capability][k] = v;
        return Status::Ok();
      },
      VmStore::Sync::kDataOnly);
  if (!s) return s.Prefixed("set handles of " + capability);
  // A capability records what it will create before creating it.
  BANGER_FAULT_POINT_NAMED("handles." + capability + ".recorded");
  std::lock_guard lock(mu_);
  ++writes_;
  for (const auto& [k, v] : values) cache_[vm_id][capability][k] = v;
  return Status::Ok();
}

Status HandleStore::Clear(const std::string& vm_id, const std::string& capability,
                          const std::string& key) {
  Status s = store_.Update(
      vm_id,
      [&](VmRecord& r) {
        auto cap = r.handles.find(capability);
        if (cap == r.handles.end()) return Status::Ok();
        if (key.empty()) {
          r.handles.erase(cap);
        } else {
          cap->second.erase(key);
          if (cap->second.empty()) r.handles.erase(cap);
        }
        return Status::Ok();
      },
      VmStore::Sync::kDataOnly);
  // A VM whose record is gone has nothing left to clear.
  if (!s && s.code() != StatusCode::kNotFound) return s.Prefixed("clear handle " + capability);
  BANGER_FAULT_POINT_NAMED("handles." + capability + ".cleared");
  std::lock_guard lock(mu_);
  ++writes_;
  auto vm = cache_.find(vm_id);
  if (vm != cache_.end()) {
    if (key.empty()) {
      vm->second.erase(capability);
    } else if (auto cap = vm->second.find(capability); cap != vm->second.end()) {
      cap->second.erase(key);
    }
  }
  return Status::Ok();
}

void HandleStore::Forget(const std::string& vm_id) {
  std::lock_guard lock(mu_);
  ++writes_;
  cache_.erase(vm_id);
}

void HandleStore::ForgetAll() {
  std::lock_guard lock(mu_);
  ++writes_;
  cache_.clear();
}

}  // namespace banger::core
