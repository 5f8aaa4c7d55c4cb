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
  // While the VM's handles are held, the record is read with the held
  // changes on top of it: a held clear must not come back from the record.
  VmHandles with_held;
  const VmHandles* handles = &record->handles;
  if (auto held = held_.find(vm_id); held != held_.end() && !held->second.empty()) {
    with_held = record->handles;
    for (const auto& c : held->second) ApplyChange(c, with_held);
    handles = &with_held;
  }
  // The record is authoritative for what the cache did not hold, unless a
  // write landed since it was read: then it may hold what was just cleared,
  // and the cache (which that write updated) is left as it is.
  if (writes_ == writes_before) {
    VmHandles& cached = cache_[vm_id];
    for (const auto& [cap, keys] : *handles) {
      for (const auto& [k, v] : keys) cached[cap].emplace(k, v);
    }
  }
  auto cap = handles->find(capability);
  if (cap != handles->end()) {
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

void HandleStore::ApplyChange(const HeldChange& c, VmHandles& handles) {
  if (c.value) {
    handles[c.capability][c.key] = *c.value;
    return;
  }
  auto cap = handles.find(c.capability);
  if (cap == handles.end()) return;
  if (c.key.empty()) {
    handles.erase(cap);
  } else {
    cap->second.erase(c.key);
    if (cap->second.empty()) handles.erase(cap);
  }
}

void HandleStore::Hold(const std::string& vm_id) {
  std::lock_guard lock(mu_);
  held_[vm_id];
}

void HandleStore::ApplyHeld(const std::string& vm_id, VmRecord& record) const {
  std::lock_guard lock(mu_);
  auto it = held_.find(vm_id);
  if (it == held_.end()) return;
  for (const auto& c : it->second) ApplyChange(c, record.handles);
}

void HandleStore::Release(const std::string& vm_id, bool written) {
  std::lock_guard lock(mu_);
  auto it = held_.find(vm_id);
  if (it == held_.end()) return;
  bool changed = !it->second.empty();
  held_.erase(it);
  if (!written && changed) {
    // What the cache holds was never written: read the record again.
    ++writes_;
    cache_.erase(vm_id);
  }
}

Status HandleStore::SetMany(const std::string& vm_id, const std::string& capability,
                            const std::vector<std::pair<std::string, std::string>>& values) {
  if (capability.empty()) return Status::Invalid("handle capability must not be empty");
  for (const auto& kv : values) {
    if (kv.first.empty()) return Status::Invalid("handle keys must not be empty");
  }
  {
    std::lock_guard lock(mu_);
    if (auto held = held_.find(vm_id); held != held_.end()) {
      if (!store_.Get(vm_id)) return Status::NotFound("no VM with id " + vm_id);
      ++writes_;
      for (const auto& [k, v] : values) {
        held->second.push_back({capability, k, v});
        cache_[vm_id][capability][k] = v;
      }
      return Status::Ok();
    }
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
  {
    std::lock_guard lock(mu_);
    if (auto held = held_.find(vm_id); held != held_.end()) {
      ++writes_;
      HeldChange c{capability, key, std::nullopt};
      held->second.push_back(c);
      if (auto vm = cache_.find(vm_id); vm != cache_.end()) ApplyChange(c, vm->second);
      return Status::Ok();
    }
  }
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
