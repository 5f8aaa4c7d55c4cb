// Loading one capability file: open it safely, dlopen it (Boost.DLL,
// RTLD_NOW | RTLD_LOCAL), call its entry point and validate the descriptor
// against this host's ABI. A library, once mapped, is never unloaded while the
// process runs (its code may be referenced by threads it started), and the
// descriptor it was loaded through stays open (see the .cc for why), so both
// are deliberately kept until exit: one fd per capability file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "banger/capability.h"
#include "core/base/status.h"
#include "core/plugin_host/plugin_file.h"

namespace banger::core {

// The hooks a descriptor provides, read once at load time. A hook past the
// descriptor's struct_size is null, whatever the memory there holds.
struct CapabilityHooks {
  decltype(banger_capability::init) init = nullptr;
  decltype(banger_capability::prepare) prepare = nullptr;
  decltype(banger_capability::cleanup) cleanup = nullptr;
  decltype(banger_capability::tick) tick = nullptr;
  uint32_t tick_interval_ms = 0;
  decltype(banger_capability::query) query = nullptr;
  decltype(banger_capability::shutdown) shutdown = nullptr;
  decltype(banger_capability::rediscover) rediscover = nullptr;              // ABI >= 1.1
  decltype(banger_capability::validate_options) validate_options = nullptr;  // ABI >= 1.2
  decltype(banger_capability::command) command = nullptr;                    // ABI >= 1.2
  decltype(banger_capability::reserve) reserve = nullptr;                    // ABI >= 1.3
};

struct ConfigKeyDoc {
  std::string key, default_value, description;
};

// What the host keeps of a loaded capability (copied out of the descriptor,
// so nothing here points into memory the plugin could change later).
struct CapabilityLibrary {
  std::string path;
  std::string name, version, description;
  uint16_t abi_major = 0, abi_minor = 0;
  std::vector<std::string> dependencies;
  bool declares_config_keys = false;  // config_keys != NULL: unknown keys are errors
  std::vector<ConfigKeyDoc> config_keys;
  CapabilityHooks hooks;
};

// "init,prepare,cleanup,tick(10s),query,shutdown" for the hooks present.
std::string DescribeHooks(const CapabilityHooks& hooks);

// Checks a descriptor against this host (size, ABI, name, required fields).
// The error says what is wrong and names both ABI versions on a mismatch.
Status ValidateDescriptor(const banger_capability* d);

// Opens, checks, loads and validates the capability at `path`. When a
// descriptor was read but refused, *seen_abi (if given) receives the ABI it
// declares ("2.0"), so listings can show what the file was built for, and
// *seen_name its name when that is a valid capability name, so the refusal
// is listed under the name an operator enables.
Result<CapabilityLibrary> LoadCapabilityLibrary(const std::string& path,
                                                const PluginFilePolicy& policy,
                                                std::string* seen_abi = nullptr,
                                                std::string* seen_name = nullptr);

}  // namespace banger::core
