// UnixHttpClient: one HTTP/1.1 request over a UNIX socket with a deadline
// covering connect, send and receive. Used by bangerctl (and by the agent to
// talk to Firecracker). Errors are distinct and say what happened:
// no socket file, connection refused, timeout, connection closed mid-call.
// Stateless; each call opens its own connection. Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "core/base/status.h"

namespace banger::core {

struct HttpReply {
  int status = 0;
  std::string body;
};

enum class HttpFailure { kNone, kNoSocket, kRefused, kTimeout, kClosed, kOther };

struct HttpCallResult {
  HttpFailure failure = HttpFailure::kNone;
  std::string error;  // set when failure != kNone
  HttpReply reply;
  bool ok() const { return failure == HttpFailure::kNone; }
};

// Sends `method target` with `body` (JSON when non-empty) to the server on
// `socket_path` and waits for the whole reply until `timeout` passes.
HttpCallResult UnixHttpCall(const std::string& socket_path, const std::string& method,
                            const std::string& target, const std::string& body,
                            std::chrono::milliseconds timeout);

// The same, for a reply that may be streamed (chunked): each chunk of the
// body goes to `on_chunk` as it arrives; a reply that is not chunked ends up
// in reply.body as usual.
HttpCallResult UnixHttpStream(const std::string& socket_path, const std::string& method,
                              const std::string& target, const std::string& body,
                              std::chrono::milliseconds timeout,
                              const std::function<void(std::string_view)>& on_chunk);

}  // namespace banger::core
