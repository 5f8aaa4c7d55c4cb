// "recorder": a C++ capability built with capability.hpp. It declares config
// keys, registers a verb, ticks, and records hook calls in the log. With
// RECORDER_THROW it throws from its constructor (the helper must turn that
// into an init error). With cleanup_delay_ms its cleanup takes that long,
// and its verb says whether it ran inside a cleanup of the same VM (which
// the host must never let happen).
#include <banger/capability.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

namespace {

class Recorder {
 public:
  explicit Recorder(banger::Host host) : host_(host) {
#ifdef RECORDER_THROW
    throw std::runtime_error("recorder refuses to start: RECORDER_THROW was set");
#endif
    greeting_ = host_.ConfigOr("greeting", "hello");
    cleanup_delay_ms_ = std::atoi(host_.ConfigOr("cleanup_delay_ms", "0").c_str());
    auto s = host_.RegisterVerb(RECORDER_VERB, "echo the greeting");
    if (!s.ok()) throw std::runtime_error("verb: " + s.message());
    s = host_.RegisterCommand("hooks", "how many prepares and cleanups ran");
    if (!s.ok()) throw std::runtime_error("command: " + s.message());
    host_.Info("hook init " + greeting_);
    if (!host_.StateDir().empty()) host_.Info("state dir " + std::string(host_.StateDir()));
  }

  banger::Status Prepare(const banger::Vm& vm) {
    auto mode = host_.Option(vm.id(), "mode");
    host_.Info("hook prepare " + std::string(vm.name()) + (mode.ok() ? " mode=" + mode.value : ""));
    ++prepares_;
    if (vm.name() == "fail-prepare") return banger::Status::Error("prepare refused by test");
    return banger::Status::Ok();
  }

  banger::Status Cleanup(const banger::Vm& vm) {
    host_.Info("hook cleanup " + std::string(vm.name()));
    ++cleanups_;
    if (cleanup_delay_ms_ > 0) {
      {
        std::lock_guard lock(mu_);
        in_cleanup_.insert(std::string(vm.id()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(cleanup_delay_ms_));
      std::lock_guard lock(mu_);
      in_cleanup_.erase(std::string(vm.id()));
    }
    return banger::Status::Ok();
  }

  banger::Status Tick(int64_t) {
    if (++ticks_ == 1) host_.Info("hook tick first");
    return banger::Status::Ok();
  }

  banger::Status Query(std::string_view verb, const banger::Vm& vm, std::string_view,
                       std::string& reply) {
    if (vm.name() == "throw") throw std::logic_error("query threw on purpose");
    if (vm.name() == "visit-throw") {
      // Throws inside a callback the host runs: must come back out here.
      (void)host_.ForEachVm([](const banger::Vm&) { throw std::range_error("visitor threw"); });
    }
    bool during_cleanup;
    {
      std::lock_guard lock(mu_);
      during_cleanup = in_cleanup_.count(std::string(vm.id())) > 0;
    }
    reply = "{\"verb\":\"" + std::string(verb) + "\",\"greeting\":\"" + greeting_ +
            "\",\"during_cleanup\":" + (during_cleanup ? "true" : "false") + "}";
    return banger::Status::Ok();
  }

  // A capability-wide command: about the capability, no VM.
  banger::Status Command(std::string_view verb, std::string_view, std::string& reply) {
    if (verb != "hooks") return banger::Status::Error("no command " + std::string(verb));
    reply = "{\"prepares\":" + std::to_string(prepares_.load()) +
            ",\"cleanups\":" + std::to_string(cleanups_.load()) + "}";
    return banger::Status::Ok();
  }

  void Shutdown() {
    host_.Info("hook shutdown -");
  }

  // Per-VM options: "mode", fast or slow.
  banger::Status ValidateOptions(const std::vector<std::pair<std::string, std::string>>& options) {
    for (const auto& [key, value] : options) {
      if (key != "mode")
        return banger::Status::Invalid("unknown option '" + key + "'; it takes: mode");
      if (value != "fast" && value != "slow") {
        return banger::Status::Invalid("option mode takes fast or slow, not '" + value + "'");
      }
    }
    return banger::Status::Ok();
  }

  // Finds handle "lost" of any VM (as if the object were found on the host).
  std::optional<std::string> Rediscover(const banger::Vm& vm, std::string_view key) {
    host_.Info("hook rediscover " + std::string(vm.name()) + " " + std::string(key));
    if (key != "lost") return std::nullopt;
    return "found-" + std::string(vm.name());
  }

 private:
  banger::Host host_;
  std::string greeting_;
  int cleanup_delay_ms_ = 0;
  std::atomic<int> ticks_{0};
  std::atomic<int> prepares_{0}, cleanups_{0};
  std::mutex mu_;
  std::set<std::string> in_cleanup_;  // VM ids whose cleanup is running
};

const banger_config_key kKeys[] = {
    {"greeting", "hello", "what the echo verb answers"},
    {"cleanup_delay_ms", "0", "how long each cleanup takes"},
    {nullptr, nullptr, nullptr},
};

}  // namespace

BANGER_CAPABILITY(Recorder, (banger::Info{.name = RECORDER_NAME,
                                          .version = "1.2.3",
                                          .description = "records its hook calls",
                                          .config_keys = kKeys,
                                          .tick_interval_ms = 50}))
