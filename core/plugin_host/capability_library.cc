#include "core/plugin_host/capability_library.h"

#include "core/plugin_host/plugin_selection.h"

#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <vector>

#define BOOST_DLL_USE_STD_FS
#include <boost/dll/shared_library.hpp>

namespace banger::core {
namespace {

// The smallest descriptor ABI 1.0 accepts: everything through `shutdown`.
constexpr size_t kMinDescriptorSize =
    offsetof(banger_capability, shutdown) + sizeof(banger_capability::shutdown);

std::string AbiText(unsigned major, unsigned minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

CapabilityHooks ReadHooks(const banger_capability* d) {
  CapabilityHooks h;
#define BANGER_READ_HOOK(field) \
  if (BANGER_HAS_FIELD(d, banger_capability, field)) h.field = d->field
  BANGER_READ_HOOK(init);
  BANGER_READ_HOOK(prepare);
  BANGER_READ_HOOK(cleanup);
  BANGER_READ_HOOK(tick);
  BANGER_READ_HOOK(tick_interval_ms);
  BANGER_READ_HOOK(query);
  BANGER_READ_HOOK(shutdown);
  // The one rule: a field exists when struct_size covers it, and a hook that
  // is NULL is absent. rediscover (1.1) and reserve (1.3) sit in what were
  // reserved slots, zero in every older descriptor, so they read as absent
  // there.
  BANGER_READ_HOOK(rediscover);
  BANGER_READ_HOOK(reserve);
  BANGER_READ_HOOK(validate_options);
  BANGER_READ_HOOK(command);
#undef BANGER_READ_HOOK
  return h;
}

// Every library mapped, kept reachable (and never destroyed: no dlclose at
// exit while a hook may still run) so a leak checker sees it is held.
void KeepLoaded(std::unique_ptr<boost::dll::shared_library> library) {
  static std::mutex mu;
  static auto* kept = new std::vector<std::unique_ptr<boost::dll::shared_library>>();
  std::lock_guard<std::mutex> lock(mu);
  kept->push_back(std::move(library));
}

}  // namespace

std::string DescribeHooks(const CapabilityHooks& h) {
  std::string out;
  auto add = [&](bool present, const std::string& name) {
    if (!present) return;
    if (!out.empty()) out += ",";
    out += name;
  };
  add(h.init != nullptr, "init");
  add(h.reserve != nullptr, "reserve");
  add(h.prepare != nullptr, "prepare");
  add(h.cleanup != nullptr, "cleanup");
  if (h.tick != nullptr) {
    uint32_t ms = h.tick_interval_ms;
    add(true, ms == 0          ? "tick(off)"
              : ms % 1000 == 0 ? "tick(" + std::to_string(ms / 1000) + "s)"
                               : "tick(" + std::to_string(ms) + "ms)");
  }
  add(h.query != nullptr, "query");
  add(h.shutdown != nullptr, "shutdown");
  add(h.rediscover != nullptr, "rediscover");
  add(h.validate_options != nullptr, "validate_options");
  add(h.command != nullptr, "command");
  return out;
}

Status ValidateDescriptor(const banger_capability* d) {
  if (d == nullptr) return Status::Error("entry point returned no descriptor (NULL)");
  const std::string host_abi = AbiText(BANGER_ABI_MAJOR, BANGER_ABI_MINOR);
  // abi_major/minor sit right after struct_size in every version, so they can
  // be read before the size is judged.
  if (d->abi_major != BANGER_ABI_MAJOR) {
    return Status::Error("built for capability ABI " + AbiText(d->abi_major, d->abi_minor) +
                         ", this agent speaks ABI " + host_abi +
                         " (majors must match); rebuild it against this agent's SDK");
  }
  // abi_minor is the oldest minor the capability needs (not the header it
  // was built with): an agent of that minor or newer serves it.
  if (d->abi_minor > BANGER_ABI_MINOR) {
    return Status::Error("needs capability ABI " + AbiText(d->abi_major, d->abi_minor) +
                         " or later, this agent speaks ABI " + host_abi +
                         "; upgrade bangerd, or build the capability for an older minor");
  }
  if (d->struct_size < kMinDescriptorSize) {
    return Status::Error("descriptor is " + std::to_string(d->struct_size) + " bytes; ABI " +
                         host_abi + " needs at least " + std::to_string(kMinDescriptorSize));
  }
  // Reserved slots are zero: one that is not was built against a header this
  // agent does not know the layout of.
  for (size_t i = 0; i < std::size(d->reserved); ++i) {
    size_t end = offsetof(banger_capability, reserved) + (i + 1) * sizeof(void*);
    if (d->struct_size >= end && d->reserved[i] != nullptr) {
      return Status::Error("reserved slot " + std::to_string(i) +
                           " of the descriptor is not zero: built against a header of a newer "
                           "minor that this agent does not know; upgrade bangerd");
    }
  }
  if (d->name == nullptr || !IsCapabilityName(d->name)) {
    return Status::Error("descriptor name '" + std::string(d->name ? d->name : "(null)") +
                         "' is not a capability name (" + kCapabilityNameRule + ")");
  }
  if (d->version == nullptr || *d->version == '\0') {
    return Status::Error("descriptor has no version");
  }
  if (d->init == nullptr) return Status::Error("descriptor has no init hook (it is required)");
  return Status::Ok();
}

Result<CapabilityLibrary> LoadCapabilityLibrary(const std::string& path,
                                                const PluginFilePolicy& policy,
                                                std::string* seen_abi, std::string* seen_name) {
  auto fd = OpenPluginFile(path, policy);
  if (!fd) return fd.status();

  // Kept for the life of the process on purpose: see the header.
  // dlopen is given /proc/self/fd/N, so the file loaded is the file checked.
  // glibc recognises an already loaded object by the name it was opened
  // under: were N closed and reused by the next capability file, dlopen
  // would hand back the earlier library. So once a file is mapped, its
  // descriptor stays open and the library stays loaded until exit, whether
  // or not it passes validation (a dlclose may be a no-op anyway, for
  // objects with unique symbols).
  auto owned = std::make_unique<boost::dll::shared_library>();
  boost::dll::fs::error_code ec;
  owned->load(ProcFdPath(fd->get()),
              boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec) return Status::Error("dlopen failed: " + ec.message());  // nothing was mapped
  (void)fd->Release();
  boost::dll::shared_library* library = owned.get();
  KeepLoaded(std::move(owned));
  if (!library->has(BANGER_ENTRY_SYMBOL)) {
    return Status::Error(std::string("no entry symbol ") + BANGER_ENTRY_SYMBOL +
                         " (not a banger capability, or built without BANGER_CAPABILITY)");
  }
  auto entry = library->get<const banger_capability*()>(BANGER_ENTRY_SYMBOL);
  const banger_capability* d = nullptr;
  try {
    d = entry();
  } catch (const std::exception& e) {
    return Status::Error(std::string("entry point threw: ") + e.what());
  } catch (...) {
    return Status::Error("entry point threw an exception of unknown type");
  }
  if (d != nullptr && seen_abi != nullptr) *seen_abi = AbiText(d->abi_major, d->abi_minor);
  // abi_major/minor and name are where every 1.x descriptor has them.
  if (d != nullptr && seen_name != nullptr && d->abi_major == BANGER_ABI_MAJOR &&
      d->struct_size >= offsetof(banger_capability, name) + sizeof(d->name) && d->name != nullptr &&
      IsCapabilityName(d->name)) {
    *seen_name = d->name;
  }
  if (Status s = ValidateDescriptor(d); !s) return s;

  CapabilityLibrary lib;
  lib.path = path;
  lib.name = d->name;
  lib.version = d->version;
  lib.description = d->description ? d->description : "";
  lib.abi_major = d->abi_major;
  lib.abi_minor = d->abi_minor;
  lib.hooks = ReadHooks(d);
  for (auto p = d->dependencies; p != nullptr && *p != nullptr; ++p) {
    lib.dependencies.emplace_back(*p);
  }
  if (d->config_keys != nullptr) {
    lib.declares_config_keys = true;
    for (auto k = d->config_keys; k->key != nullptr; ++k) {
      lib.config_keys.push_back(
          {k->key, k->default_value ? k->default_value : "", k->description ? k->description : ""});
    }
  }
  return lib;
}

}  // namespace banger::core
