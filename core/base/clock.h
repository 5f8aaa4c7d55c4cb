// Wall-clock time as the records and the API carry it: Unix epoch milliseconds.
#pragma once

#include <chrono>
#include <cstdint>

namespace banger::core {

inline int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace banger::core
