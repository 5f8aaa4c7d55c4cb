// CRC-32C (Castagnoli), as iSCSI, ext4 and LevelDB use it: a checksum that
// catches a damaged byte in a stored value. Table-driven, portable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace banger::core {

uint32_t Crc32c(std::string_view data);

}  // namespace banger::core
