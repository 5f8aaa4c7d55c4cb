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
    {nullptr, nullptr, nullptr},
};

stats::VmTarget TargetOf(const banger::VmInfo& vm) {
  return {vm.pid, vm.pid_start_time, vm.metrics_path, vm.overlay_path, vm.work_disk_path};
}

class Stats {
 public:
  explicit Stats(banger::Host host) : host_(host) {
    interval_ms_ = host.ConfigDurationMs("interval", "10s");
    if (interval_ms_ <= 0) throw std::runtime_error("[stats] interval must be more than 0");
    auto s = host_.RegisterVerb("stats", "a fresh sample of the VM's figures");
    if (!s.ok()) throw std::runtime_error(s.message());
  }

  banger::Status Tick(int64_t now_ms) {
    if (now_ms - last_round_ms_ < interval_ms_) return banger::Status::Ok();
    last_round_ms_ = now_ms;
    auto vms = host_.ListVms();
    if (!vms.ok()) return vms.status;
    std::vector<banger::Host::VmSamples> batch;
    std::vector<std::string_view> running;
    std::lock_guard lock(mu_);
    for (const auto& vm : vms.value) {
      if (vm.state != "running") continue;
      running.push_back(vm.id);
      if (vm.pid <= 0) continue;
      auto& sampler = samplers_[vm.id];
      if (!sampler) sampler = std::make_unique<stats::VmSampler>();
      stats::Sample s = sampler->Take(TargetOf(vm), now_ms);
      if (s.process_found) batch.push_back({vm.id, s.Published()});
    }
    // Samplers of VMs no longer running close their files.
    std::sort(running.begin(), running.end());
    std::erase_if(samplers_, [&](const auto& entry) {
      return !std::binary_search(running.begin(), running.end(), std::string_view(entry.first));
    });
    // All VMs' samples in one store transaction.
    return batch.empty() ? banger::Status::Ok() : host_.PublishStats(batch);
  }

  banger::Status Query(std::string_view, const banger::Vm& vm, std::string_view,
                       std::string& reply) {
    if (vm.state() != "running" || vm.pid() <= 0) {
      return banger::Status::Error("vm \"" + std::string(vm.name()) + "\" is " +
                                   std::string(vm.state()) + ", not running");
    }
    banger::VmInfo info = banger::VmInfo::From(*vm.raw());
    stats::Sample s;
    {
      std::lock_guard lock(mu_);
      auto& sampler = samplers_[info.id];
      if (!sampler) sampler = std::make_unique<stats::VmSampler>();
      auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
      s = sampler->Take(TargetOf(info), now);
    }
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : s.Published()) j[k] = v;
    j["firecracker"] = s.metrics ? s.metrics->Totals() : stats::MetricTotals{};
    reply = j.dump();
    return banger::Status::Ok();
  }

 private:
  banger::Host host_;
  int64_t interval_ms_ = 10000;
  int64_t last_round_ms_ = 0;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<stats::VmSampler>> samplers_;
};

}  // namespace

BANGER_CAPABILITY(Stats,
                  (banger::Info{.name = "stats",
                                .version = "1.0.0",
                                .description = "CPU, memory, disk and Firecracker metrics of VMs",
                                .config_keys = kKeys,
                                .tick_interval_ms = 250}))
