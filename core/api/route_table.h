// RouteTable: maps (method, path pattern) to a handler. Patterns are literal
// segments and `{name}` segments that capture one path segment into
// HttpRequest::params ("/v1/capabilities/{name}"). First match in
// registration order wins. Routes are added before serving starts and only
// read afterwards, so Dispatch is thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/api/http_message.h"

namespace banger::core {

// "%41b" -> "Ab": a path segment or a query key or value as sent.
std::string PercentDecode(const std::string& s);

class RouteTable {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  void Add(std::string method, std::string pattern, Handler handler);
  // Answers requests no route matches (instead of the 404/405 below).
  void SetUnmatched(Handler handler) { unmatched_ = std::move(handler); }
  // Finds the route, fills request.params and calls it; 404 when no pattern
  // matches the path, 405 when one matches but not with this method.
  HttpResponse Dispatch(HttpRequest& request) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
  Handler unmatched_;
};

// Splits "/a/b/c" into {"a","b","c"} (percent-decoded).
std::vector<std::string> SplitPath(const std::string& path);

}  // namespace banger::core
