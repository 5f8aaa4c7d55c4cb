// The vsock-health capability: verbs `health` and `ping`, and an optional
// periodic check whose result lands in each VM's stats.
#include <banger/capability.hpp>

#include <chrono>
#include <nlohmann/json.hpp>

#include "plugins/vsock-health/health_probe.h"

namespace {

using nlohmann::json;

const banger_config_key kKeys[] = {
    {"port", "52", "guest vsock port the guest agent listens on"},
    {"timeout", "3s", "overall deadline of a check (the guest may still be booting)"},
    {"check_interval", "0", "run a check on every running VM this often (0: only on request)"},
    {nullptr, nullptr, nullptr},
};

class VsockHealth {
 public:
  explicit VsockHealth(banger::Host host)
      : host_(host),
        timeout_(host.ConfigDurationMs("timeout", "3s")),
        interval_(host.ConfigDurationMs("check_interval", "0")) {
    std::string port = host.ConfigOr("port", "52");
    char* end = nullptr;
    unsigned long p = std::strtoul(port.c_str(), &end, 10);
    if (port.empty() || *end || p == 0 || p > 0xFFFFFFFFul) {
      throw banger::ConfigError("port", "'" + port + "' is not a vsock port (1 to 4294967295)");
    }
    port_ = static_cast<uint32_t>(p);
    for (const char* verb : {"health", "ping"}) {
      auto s = host_.RegisterVerb(verb, std::string(verb) == "health"
                                            ? "is the guest agent answering GET /healthz?"
                                            : "does the guest accept a vsock connection?");
      if (!s.ok()) throw std::runtime_error(s.message());
    }
  }

  banger::Status Query(std::string_view verb, const banger::Vm& vm, std::string_view,
                       std::string& reply) {
    json out;
    if (vm.state() != "running") {
      out = {{"healthy", false},
             {"step", "vm"},
             {"error", "vm \"" + std::string(vm.name()) + "\" is " + std::string(vm.state()) +
                           ", not running"}};
    } else {
      auto r = vsockhealth::Probe(std::string(vm.vsock_path()), port_, timeout_, verb == "health");
      out = {{"healthy", r.healthy},
             {"step", r.step},
             {"error", r.error},
             {"ms", r.ms},
             {"attempts", r.attempts}};
      if (!r.guest.empty()) out["guest"] = json::parse(r.guest, nullptr, false);
      if (verb == "ping") {
        out["ok"] = r.healthy;
        out.erase("healthy");
      }
    }
    reply = out.dump();
    return banger::Status::Ok();
  }

  // Every second; the configured interval decides whether a round is due.
  banger::Status Tick(int64_t now_ms) {
    if (interval_.count() == 0 || now_ms - last_round_ms_ < interval_.count())
      return banger::Status::Ok();
    last_round_ms_ = now_ms;
    auto vms = host_.ListVms();
    if (!vms.ok()) return vms.status;
    std::vector<banger::Host::VmSamples> samples;
    for (const auto& vm : vms.value) {
      if (vm.state != "running") continue;
      auto r = vsockhealth::Probe(vm.vsock_path, port_, timeout_, true);
      samples.push_back({vm.id,
                         {{"health_ok", r.healthy ? 1.0 : 0.0},
                          {"health_checked_at_ms", static_cast<double>(now_ms)},
                          {"health_ms", r.ms}}});
      if (!r.healthy) host_.Info("vm \"" + vm.name + "\" unhealthy at " + r.step + ": " + r.error);
    }
    return samples.empty() ? banger::Status::Ok() : host_.PublishStats(samples);
  }

 private:
  banger::Host host_;
  uint32_t port_ = 52;
  std::chrono::milliseconds timeout_, interval_;
  int64_t last_round_ms_ = 0;
};

}  // namespace

BANGER_CAPABILITY(VsockHealth,
                  (banger::Info{.name = "vsock-health",
                                .version = "1.0.0",
                                .description = "guest health over vsock (health, ping)",
                                .config_keys = kKeys,
                                .tick_interval_ms = 1000}))
