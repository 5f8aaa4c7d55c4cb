// The stats capability: samples every running VM each interval (one store
// transaction for all of them), and answers the `stats` verb with a fresh
// sample of one VM.
#include <banger/capability.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "plugins/stats/vm_sampler.h"

namespace {

const banger_config_key kKeys[] = {
    {"interval", "10s", "how often every running VM is sampled"},
    {"disk_interval", "60s",
     "how often the disks' allocated bytes are read again (they change slowly; 0: every sample)"},
    {nullptr, nullptr, nullptr},
};

stats::VmTarget TargetOf(const banger::Vm& vm, int64_t disk_interval_ms) {
  return {vm.pid(),
          vm.pid_start_time(),
          vm.metrics_path(),
          vm.overlay_path(),
          vm.work_disk_path(),
          vm.cgroup_cpu_dir(),
          vm.cgroup_memory_dir(),
          disk_interval_ms};
}

class Stats {
 public:
  explicit Stats(banger::Host host) : host_(host) {
    interval_ms_ = host.ConfigDurationMs("interval", "10s");
    if (interval_ms_ <= 0) throw banger::ConfigError("interval", "must be more than 0");
    disk_interval_ms_ = host.ConfigDurationMs("disk_interval", "60s");
    auto s = host_.RegisterVerb("stats", "a fresh sample of the VM's figures");
    if (!s.ok()) throw std::runtime_error(s.message());
  }

  // A tick allocates nothing once every VM has been seen: the listing is not
  // copied, each VM's figures go to its own entry under static names, and
  // the batch handed to the host points at them.
  banger::Status Tick(int64_t now_ms) {
    if (now_ms - last_round_ms_ < interval_ms_) return banger::Status::Ok();
    last_round_ms_ = now_ms;
    ++round_;
    std::lock_guard lock(mu_);
    batch_.clear();
    auto listed = host_.ForEachVm([&](const banger::Vm& vm) {
      if (vm.state() != "running") return;
      Entry& e = EntryFor(vm.id());
      e.seen_round = round_;
      if (vm.pid() <= 0) return;
      stats::Sample s = e.sampler.Take(TargetOf(vm, disk_interval_ms_), now_ms);
      if (!s.process_found) return;
      e.published = s.Published();
      batch_.push_back(
          {sizeof(banger_vm_figures), e.vm_id.c_str(), e.published.data(), e.published.size()});
    });
    if (!listed.ok()) return listed;
    // VMs no longer running: their samplers close their files.
    std::erase_if(entries_, [&](const auto& entry) { return entry.second->seen_round != round_; });
    // All VMs' samples in one store transaction.
    return batch_.empty() ? banger::Status::Ok()
                          : host_.PublishFigures(batch_.data(), batch_.size());
  }

  banger::Status Query(std::string_view, const banger::Vm& vm, std::string_view,
                       std::string& reply) {
    if (vm.state() != "running" || vm.pid() <= 0) {
      return banger::Status::Error("vm \"" + std::string(vm.name()) + "\" is " +
                                   std::string(vm.state()) + ", not running");
    }
    std::lock_guard lock(mu_);
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    // A fresh sample: the disks too.
    stats::Sample s = EntryFor(vm.id()).sampler.Take(TargetOf(vm, 0), now);
    nlohmann::json j = nlohmann::json::object();
    for (const banger_figure& figure : s.Published()) j[figure.name] = figure.value;
    j["firecracker"] = s.metrics ? s.metrics->Totals() : stats::MetricTotals{};
    reply = j.dump();
    return banger::Status::Ok();
  }

 private:
  banger::Host host_;
  int64_t interval_ms_ = 10000;
  int64_t disk_interval_ms_ = 60000;
  int64_t last_round_ms_ = 0;
  // One VM's sampler and what the last tick published of it.
  struct Entry {
    std::string vm_id;
    stats::VmSampler sampler;
    stats::Sample::Figures published{};
    uint64_t seen_round = 0;  // the last tick that listed the VM running
  };
  Entry& EntryFor(std::string_view vm_id) {  // mu_ held
    auto it = entries_.find(vm_id);
    if (it == entries_.end()) {
      auto e = std::make_unique<Entry>();
      e->vm_id = vm_id;
      it = entries_.emplace(e->vm_id, std::move(e)).first;
    }
    return *it->second;
  }

  std::mutex mu_;  // entries_, batch_ (the tick thread and verb calls)
  uint64_t round_ = 0;
  std::map<std::string, std::unique_ptr<Entry>, std::less<>> entries_;  // by VM id
  std::vector<banger_vm_figures> batch_;
};

}  // namespace

BANGER_CAPABILITY(Stats,
                  (banger::Info{.name = "stats",
                                .version = "1.0.0",
                                .description = "CPU, memory, disk and Firecracker metrics of VMs",
                                .config_keys = kKeys,
                                .tick_interval_ms = 250}))
