// A VM record or a VM's figures from bytes on disk: decoding never crashes,
// and a record that decodes survives a rewrite unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/store/vm_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger::core;
  std::string_view blob(reinterpret_cast<const char*>(data), size);
  if (auto record = DecodeVmRecord(blob, "fuzz")) {
    auto again = DecodeVmRecord(EncodeVmRecord(*record), "fuzz");
    if (!again || !(*again == *record)) __builtin_trap();
  }
  if (auto stats = DecodeVmStats(blob, "fuzz")) {
    if (!DecodeVmStats(EncodeVmStats(*stats), "fuzz")) __builtin_trap();
  }
  return 0;
}
