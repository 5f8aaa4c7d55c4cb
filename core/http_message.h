// The request and response the control server hands to route handlers: plain
// values, so handlers stay free of Boost.Beast (only control_server.cc and
// unix_http_client.cc include it).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>

namespace banger {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query as sent
  std::string path;    // target without the query
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> params;  // from {name} segments of the route
  std::string body;
  uid_t peer_uid = 0;
  pid_t peer_pid = 0;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

// {"error": "<message>"} with `status`.
HttpResponse ErrorResponse(int status, const std::string& message);

}  // namespace banger
