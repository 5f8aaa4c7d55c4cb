// The agent's own version (the capability ABI has its own, in capability.h).
#pragma once

namespace banger::core {
inline constexpr const char* kBangerVersion = "0.1.0";
}  // namespace banger::core
