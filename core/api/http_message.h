// The request and response the control server hands to route handlers: plain
// values, so handlers stay free of Boost.Beast (only control_server.cc and
// unix_http_client.cc include it).
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>

namespace banger::core {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query as sent
  std::string path;    // target without the query
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> params;  // from {name} segments of the route
  std::string body;
  uid_t peer_uid = 0;  // (uid_t)-1: no peer credentials (TCP)
  gid_t peer_gid = 0;
  pid_t peer_pid = 0;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  // When set, the response is streamed instead of `body`: the server sends
  // the status with chunked transfer encoding and calls `stream`, whose
  // `emit` sends one chunk (returns false once the client is gone). An empty
  // chunk sends nothing and asks: false when the client is gone or the server
  // is stopping (a stream that waits long, a log follow, probes between waits).
  using Emit = std::function<bool(const std::string& chunk)>;
  std::function<void(const Emit& emit)> stream;
};

// A JSON (or other) body with `status`.
inline HttpResponse JsonResponse(int status, std::string body,
                                 std::string content_type = "application/json") {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

// {"error": "<message>"} with `status`.
HttpResponse ErrorResponse(int status, const std::string& message);

}  // namespace banger::core
