// The stale-reaper capability: stops running VMs nobody touched for
// `auto_stop_stale_after` (0, the default, turns it off), through the host's
// stop service (the core's escalating stop and full cleanup), logged as the
// operation vm.stop_stale. A VM busy in another operation is skipped this
// round, not waited on. `bangerctl vm show` says who stopped a VM and when.
#include <banger/capability.hpp>

#include <chrono>

namespace {

const banger_config_key kKeys[] = {
    {"auto_stop_stale_after", "0",
     "stop a running VM untouched for this long (bangerctl vm touch); 0: never"},
    {"interval", "60s", "how often running VMs are checked"},
    {nullptr, nullptr, nullptr},
};

class StaleReaper {
 public:
  explicit StaleReaper(banger::Host host)
      : host_(host),
        stale_after_ms_(host.ConfigDurationMs("auto_stop_stale_after", "0")),
        interval_ms_(host.ConfigDurationMs("interval", "60s")) {
    if (interval_ms_ <= 0) throw banger::ConfigError("interval", "must be more than 0");
    host_.Info(stale_after_ms_ == 0
                   ? std::string("off (auto_stop_stale_after = 0)")
                   : "stops VMs untouched for " + banger::FormatDurationMs(stale_after_ms_) +
                         ", checking every " + banger::FormatDurationMs(interval_ms_));
  }

  banger::Status Tick(int64_t now_ms) {
    if (stale_after_ms_ == 0 || now_ms - last_round_ms_ < interval_ms_) return banger::Status::Ok();
    last_round_ms_ = now_ms;
    auto vms = host_.ListVms();
    if (!vms.ok()) return vms.status;
    for (const auto& vm : vms.value) {
      if (vm.state != "running") continue;
      int64_t idle = now_ms - std::max(vm.last_touched_at_ms, vm.created_at_ms);
      if (idle < stale_after_ms_) continue;
      std::string reason =
          "stale: untouched for " + banger::FormatDurationMs(idle / 1000 * 1000) +
          " (auto_stop_stale_after = " + banger::FormatDurationMs(stale_after_ms_) + ")";
      banger::Status s = host_.RequestStop(vm.id, reason);
      if (s.code() == BANGER_BUSY) {
        host_.Debug("vm \"" + vm.name + "\" is busy; next round");
      } else if (!s.ok()) {
        host_.Warn("stop vm \"" + vm.name + "\": " + s.message());
      } else {
        host_.Info("stopped vm \"" + vm.name + "\": " + reason);
      }
    }
    return banger::Status::Ok();
  }

 private:
  banger::Host host_;
  int64_t stale_after_ms_, interval_ms_;
  int64_t last_round_ms_ = 0;
};

}  // namespace

BANGER_CAPABILITY(StaleReaper, (banger::Info{.name = "stale-reaper",
                                             .version = "1.0.0",
                                             .description = "stops VMs left untouched",
                                             .config_keys = kKeys,
                                             .tick_interval_ms = 250}))
