// The body of POST /v1/vms: accepted only within every field's limits,
// refused otherwise, never a crash or an exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/api/vm_routes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger::core;
  std::string body(reinterpret_cast<const char*>(data), size);
  auto c = ParseCreateRequest(body, uint64_t{1} << 40);
  if (c) {
    const VmSpec& s = c->spec;
    bool within =
        s.vcpus >= 1 && s.vcpus <= 32 && s.memory_mib >= 16 &&
        s.work_disk_bytes <= (uint64_t{1} << 40) && s.boot_args.size() <= 1536 &&
        s.kernel_image.find('\0') == std::string::npos &&
        s.rootfs.find('\0') == std::string::npos && !c->name.empty() && c->name.size() <= 63 &&
        c->name[0] != '-' &&
        c->name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
    if (!within) __builtin_trap();
  } else if (c.status().code() != StatusCode::kInvalid) {
    __builtin_trap();
  }
  return 0;
}
