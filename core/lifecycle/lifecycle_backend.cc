#include "core/lifecycle/lifecycle_backend.h"

#include "core/base/clock.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <unordered_set>

#include "core/lifecycle/vm_view.h"

namespace banger::core {

int ToBangerCode(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return BANGER_OK;
    case StatusCode::kNotFound:
      return BANGER_NOT_FOUND;
    case StatusCode::kInvalid:
    case StatusCode::kConflict:
    case StatusCode::kDenied:
      return BANGER_INVALID;
    case StatusCode::kUnavailable:
      return BANGER_UNAVAILABLE;
    case StatusCode::kBusy:
      return BANGER_BUSY;
    case StatusCode::kError:
    case StatusCode::kCorrupt:
      return BANGER_ERROR;
  }
  return BANGER_ERROR;
}

namespace {

ServiceStatus From(const Status& s) {
  return ServiceStatus{ToBangerCode(s), s.message()};
}

ServiceStatus NoLifecycle(const char* what) {
  return ServiceStatus{BANGER_UNAVAILABLE,
                       std::string(what) + " is not available: this agent has no VM lifecycle yet"};
}

}  // namespace

ServiceStatus LifecycleBackend::HandleGet(const std::string& vm_id, const std::string& capability,
                                          const std::string& key, std::string* value) {
  // The cascade: handle cache -> the VM's record -> the capability's own
  // rediscovery. What rediscovery finds is recorded, so the next cleanup
  // (or a crash before it) still knows it.
  auto r = handles_.Get(vm_id, capability, key);
  if (r) {
    *value = std::move(r.value());
    return ServiceStatus::Ok();
  }
  if (r.status().code() != StatusCode::kNotFound) return From(r.status());
  auto vm = store_.Get(vm_id);
  if (rediscover_ && vm) {
    if (auto found = rediscover_(capability, **vm, key)) {
      if (Status s = handles_.Set(vm_id, capability, key, *found); !s) return From(s);
      *value = *found;
      return ServiceStatus::Ok();
    }
  }
  return ServiceStatus{BANGER_NOT_FOUND,
                       "never allocated: no " + capability + "." + key + " for vm " +
                           (vm ? "\"" + (*vm)->name + "\"" : vm_id) +
                           " in the handle cache, the VM's record, or by rediscovery"};
}

ServiceStatus LifecycleBackend::HandleFind(const std::string& vm_id, const std::string& capability,
                                           const std::string& key, std::string* value) {
  auto r = handles_.Get(vm_id, capability, key);
  if (!r) return From(r.status());
  *value = std::move(r.value());
  return ServiceStatus::Ok();
}

ServiceStatus LifecycleBackend::OptionGet(const std::string& vm_id, const std::string& capability,
                                          const std::string& key, std::string* value) {
  auto vm = store_.Get(vm_id);
  if (!vm) return From(vm.status());
  auto it = (*vm)->options.find(capability + "." + key);
  if (it == (*vm)->options.end()) {
    return ServiceStatus{BANGER_NOT_FOUND, "vm \"" + (*vm)->name + "\" has no option " +
                                               capability + "." + key + " (use your default)"};
  }
  *value = it->second;
  return ServiceStatus::Ok();
}

ServiceStatus LifecycleBackend::HandleSet(const std::string& vm_id, const std::string& capability,
                                          const std::string& key, const std::string& value) {
  return From(handles_.Set(vm_id, capability, key, value));
}

ServiceStatus LifecycleBackend::HandleSetMany(
    const std::string& vm_id, const std::string& capability,
    const std::vector<std::pair<std::string, std::string>>& values) {
  return From(handles_.SetMany(vm_id, capability, values));
}

ServiceStatus LifecycleBackend::HandleClear(const std::string& vm_id, const std::string& capability,
                                            const std::string& key) {
  return From(handles_.Clear(vm_id, capability, key));
}

ServiceStatus LifecycleBackend::GetVm(const std::string& ref, const VmVisitor& visit) {
  auto r = store_.Resolve(ref);
  if (!r) return From(r.status());
  visit(MakeVmView(**r));
  return ServiceStatus::Ok();
}

ServiceStatus LifecycleBackend::ListVms(const VmVisitor& visit) {
  // Corrupt records are not VMs a capability can act on; `bangerctl vm ls`
  // reports them.
  for (const auto& r : store_.List().records) visit(MakeVmView(*r));
  return ServiceStatus::Ok();
}

ServiceStatus LifecycleBackend::AddNetworkInterface(const std::string& capability,
                                                    const std::string& vm_id,
                                                    const banger_net_iface& iface) {
  LifecycleRequests* l = lifecycle_.load();
  if (!l) return NoLifecycle("vmm_add_network_interface");
  return l->AddNetworkInterface(capability, vm_id, iface);
}

ServiceStatus LifecycleBackend::AppendBootArgs(const std::string& capability,
                                               const std::string& vm_id, const std::string& args) {
  LifecycleRequests* l = lifecycle_.load();
  if (!l) return NoLifecycle("vmm_append_boot_args");
  return l->AppendBootArgs(capability, vm_id, args);
}

ServiceStatus LifecycleBackend::RequestStop(const std::string& capability, const std::string& vm_id,
                                            const std::string& reason) {
  LifecycleRequests* l = lifecycle_.load();
  if (!l) return NoLifecycle("vm_request_stop");
  return l->RequestStop(capability, vm_id, reason);
}

ServiceStatus LifecycleBackend::PublishStats(const std::string&,
                                             const std::vector<VmSample>& batch) {
  int64_t now = UnixMillis();
  std::vector<std::string_view> ids;
  std::vector<const VmSample*> samples;
  ids.reserve(batch.size());
  samples.reserve(batch.size());
  for (const auto& s : batch) {
    ids.push_back(s.vm_id);
    samples.push_back(&s);
  }
  // A VM listed twice keeps its first entry (rare: found by hashing).
  std::unordered_set<std::string_view> distinct(ids.begin(), ids.end());
  if (distinct.size() != ids.size()) {
    std::set<std::string_view> seen;
    ids.clear();
    samples.clear();
    for (const auto& s : batch) {
      if (!seen.insert(s.vm_id).second) continue;
      ids.push_back(s.vm_id);
      samples.push_back(&s);
    }
  }
  // One transaction for the whole batch, into the store's stats table (the
  // records are not rewritten); a VM removed meanwhile is skipped. Figures
  // are re-sampled every tick, so the meta page is not synced: a host crash
  // may lose the latest batch (the store stays consistent).
  auto r = store_.UpdateStats(
      ids,
      [&](size_t i, VmStats& stats) {
        stats.collected_at_ms = now;
        // Merge: a capability publishes its own figures, others' stay.
        auto& values = stats.values;
        std::span<const banger_stat> batch = samples[i]->stats;
        // What every tick after the first is: the same names in the same
        // order, each value replaced in place.
        if (values.size() == batch.size() &&
            std::equal(batch.begin(), batch.end(), values.begin(),
                       [](const banger_stat& b, const auto& v) { return v.first == b.name; })) {
          for (size_t k = 0; k < batch.size(); ++k) values[k].second = batch[k].value;
          return;
        }
        for (const banger_stat& stat : batch) {
          std::string_view name = stat.name;
          auto it = std::find_if(values.begin(), values.end(),
                                 [&](const auto& v) { return v.first == name; });
          if (it != values.end()) {
            it->second = stat.value;
          } else {
            values.emplace_back(InternFigureName(name),
                                stat.value);  // the capability's is not kept
          }
        }
      },
      VmStore::Sync::kDataOnly);
  if (!r) return From(r.status());
  return ServiceStatus::Ok();
}

}  // namespace banger::core
