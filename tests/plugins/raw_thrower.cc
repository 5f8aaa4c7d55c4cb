// "raw-thrower": a C++ capability that ignores the helper and lets an
// exception escape its init straight into the host (which must catch it).
#include <banger/capability.h>

#include <stdexcept>

namespace {

int Init(const banger_host*, void**, banger_message*) {
  throw std::runtime_error("raw exception escaping init");
}

const banger_capability kDescriptor = [] {
  banger_capability d{};
  d.struct_size = sizeof d;
  d.abi_major = BANGER_ABI_MAJOR;
  d.abi_minor = BANGER_ABI_MINOR;
  d.name = "raw-thrower";
  d.version = "0.0.1";
  d.description = "throws across the C ABI";
  d.init = &Init;
  return d;
}();

}  // namespace

extern "C" BANGER_EXPORT const banger_capability* banger_capability_entry(void) {
  return &kDescriptor;
}
