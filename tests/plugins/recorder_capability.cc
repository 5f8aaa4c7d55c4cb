// "recorder": a C++ capability built with capability.hpp. It declares config
// keys, registers a verb, ticks, and records hook calls in the log. With
// RECORDER_THROW it throws from its constructor (the helper must turn that
// into an init error).
#include <banger/capability.hpp>

#include <atomic>
#include <optional>
#include <stdexcept>

namespace {

class Recorder {
 public:
  explicit Recorder(banger::Host host) : host_(host) {
#ifdef RECORDER_THROW
    throw std::runtime_error("recorder refuses to start: RECORDER_THROW was set");
#endif
    greeting_ = host_.ConfigOr("greeting", "hello");
    auto s = host_.RegisterVerb(RECORDER_VERB, "echo the greeting");
    if (!s.ok()) throw std::runtime_error("verb: " + s.message());
    host_.Info("hook init " + greeting_);
  }

  banger::Status Prepare(const banger::Vm& vm) {
    host_.Info("hook prepare " + std::string(vm.name()));
    if (vm.name() == "fail-prepare") return banger::Status::Error("prepare refused by test");
    return banger::Status::Ok();
  }

  banger::Status Cleanup(const banger::Vm& vm) {
    host_.Info("hook cleanup " + std::string(vm.name()));
    return banger::Status::Ok();
  }

  banger::Status Tick(int64_t) {
    if (++ticks_ == 1) host_.Info("hook tick first");
    return banger::Status::Ok();
  }

  banger::Status Query(std::string_view verb, const banger::Vm& vm, std::string_view,
                       std::string& reply) {
    if (vm.name() == "throw") throw std::logic_error("query threw on purpose");
    reply = "{\"verb\":\"" + std::string(verb) + "\",\"greeting\":\"" + greeting_ + "\"}";
    return banger::Status::Ok();
  }

  void Shutdown() {
    host_.Info("hook shutdown -");
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
  std::atomic<int> ticks_{0};
};

const banger_config_key kKeys[] = {
    {"greeting", "hello", "what the echo verb answers"},
    {nullptr, nullptr, nullptr},
};

}  // namespace

BANGER_CAPABILITY(Recorder, (banger::Info{.name = RECORDER_NAME,
                                          .version = "1.2.3",
                                          .description = "records its hook calls",
                                          .config_keys = kKeys,
                                          .tick_interval_ms = 50}))
