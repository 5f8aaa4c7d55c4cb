// bangerd.conf text: parsed or refused with a message, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/agent/agent_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto config = banger::core::ParseAgentConfig(text, "fuzz.conf");
  if (!config && config.status().message().rfind("fuzz.conf", 0) != 0) __builtin_trap();
  return 0;
}
