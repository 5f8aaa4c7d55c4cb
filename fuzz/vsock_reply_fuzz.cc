// What comes back over a VM's vsock socket (Firecracker's answer to CONNECT,
// then the guest agent's HTTP answer; the guest is untrusted): any bytes,
// never a crash, and a status is three digits or none.
#include <cstddef>
#include <cstdint>
#include <string>

#include "plugins/vsock-health/health_probe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  (void)vsockhealth::ConnectAccepted(bytes.substr(0, bytes.find('\n')));
  auto reply = vsockhealth::ParseGuestReply(bytes);
  if (reply.status != 0 && (reply.status < 100 || reply.status > 999)) __builtin_trap();
  return 0;
}
