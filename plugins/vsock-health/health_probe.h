// A health probe over Firecracker's hybrid vsock: connect to the VM's vsock
// UNIX socket, write `CONNECT <port>\n` in one write, expect `OK <n>\n`,
// retrying with backoff while the guest is not listening yet (a booting
// guest drops connections), until the deadline; then `GET /healthz` to the
// guest agent over the same stream. Healthy iff it answers 200. A failure
// names its step: socket (no socket), connect (CONNECT refused: nobody
// listens on the port), ok (a reply that is not OK), reply (the guest
// agent's answer is not 200), timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace vsockhealth {

struct ProbeResult {
  bool healthy = false;
  std::string step;   // where it failed; "" when healthy
  std::string error;  // one line
  double ms = 0;
  int attempts = 0;
  std::string guest;  // the guest agent's body (JSON) when healthy
};

// `http` false: stop after OK (a ping).
// Firecracker's answer to "CONNECT <port>\n" on the vsock socket accepts
// the connection when its first line is "OK <host port>".
bool ConnectAccepted(std::string_view first_line);

// The guest agent's HTTP answer to GET /healthz: its status (0 when it is
// not an HTTP answer) and body. Any bytes; never fails.
struct GuestReply {
  int status = 0;
  std::string body;
};
GuestReply ParseGuestReply(const std::string& reply);

ProbeResult Probe(const std::string& vsock_uds, uint32_t port, std::chrono::milliseconds deadline,
                  bool http);

}  // namespace vsockhealth
