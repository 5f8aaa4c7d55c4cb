// Compiled with -std=c++20 -Wall -Wextra -Werror -pedantic by a test.
#include <banger/capability.hpp>

namespace {
class Minimal {
 public:
  explicit Minimal(banger::Host host) : host_(host) {}

  // The helper's templates are instantiated too: a visitor given as a
  // mutable lambda and as a const one.
  banger::Status Tick(int64_t) {
    size_t running = 0;
    auto count = [&](const banger::Vm& vm) { running += vm.state() == "running"; };
    const auto log = [this](const banger::Vm& vm) { host_.Info(std::string(vm.name())); };
    if (auto s = host_.ForEachVm(count); !s.ok()) return s;
    if (auto s = host_.ForEachVm(log); !s.ok()) return s;
    banger_stat figure{"running_vms", static_cast<double>(running)};
    banger_vm_stats batch{"0123", &figure, 1};
    return host_.PublishStats(&batch, 1);
  }

 private:
  banger::Host host_;
};
}  // namespace

BANGER_CAPABILITY(Minimal, (banger::Info{.name = "minimal", .version = "0.0.1"}))
