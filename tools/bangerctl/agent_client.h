// AgentClient: how bangerctl reaches bangerd. The socket is --socket PATH,
// else $BANGER_SOCKET, else the default path. A call returns the parsed JSON
// body or a one-line error (the agent's own "error" text when it sent one).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "core/base/status.h"

namespace bangerctl {

// "bangerctl: <message>" on stderr; returns `code` (1 failure, 2 usage).
int Fail(const std::string& message, int code = 1);

// --socket value ("" when not given) -> the socket to use.
std::string ResolveSocket(const std::string& flag_value);

class AgentClient {
 public:
  explicit AgentClient(std::string socket_path) : socket_path_(std::move(socket_path)) {}
  banger::core::Result<nlohmann::json> Call(const std::string& method, const std::string& target,
                                            const std::string& body = "") const;
  // Call without the parse: the body of a successful reply as it came (for
  // a reply too large to build a document of, such as a listing).
  banger::core::Result<std::string> Fetch(const std::string& method, const std::string& target,
                                          const std::string& body = "") const;
  // A call whose reply is NDJSON (?stream=1): `on_event` gets each JSON line
  // as it arrives. An error reply before the stream is the returned error.
  banger::core::Status Stream(const std::string& method, const std::string& target,
                              const std::string& body,
                              const std::function<void(const nlohmann::json&)>& on_event) const;

 private:
  std::string socket_path_;
};

}  // namespace bangerctl
