// Compiled with -std=c++20 -Wall -Wextra -Werror -pedantic by a test.
#include <banger/capability.hpp>

namespace {
class Minimal {
 public:
  explicit Minimal(banger::Host) {}
};
}  // namespace

BANGER_CAPABILITY(Minimal, (banger::Info{.name = "minimal", .version = "0.0.1"}))
