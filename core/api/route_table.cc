#include "core/api/route_table.h"

#include <nlohmann/json.hpp>

namespace banger::core {

HttpResponse ErrorResponse(int status, const std::string& message) {
  // A message may quote what a client sent: bytes that are not UTF-8 are
  // replaced, never a reason to fail.
  return JsonResponse(status, nlohmann::json{{"error", message}}.dump(
                                  -1, ' ', false, nlohmann::json::error_handler_t::replace) +
                                  "\n");
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(PercentDecode(path.substr(i, j - i)));
    i = j + 1;
  }
  return out;
}

void RouteTable::Add(std::string method, std::string pattern, Handler handler) {
  routes_.push_back({std::move(method), SplitPath(pattern), std::move(handler)});
}

HttpResponse RouteTable::Dispatch(HttpRequest& request) const {
  auto segments = SplitPath(request.path);
  bool path_matched = false;
  for (const auto& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> params;
    bool match = true;
    for (size_t i = 0; i < segments.size() && match; ++i) {
      const auto& want = route.segments[i];
      if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
        params[want.substr(1, want.size() - 2)] = segments[i];
      } else {
        match = want == segments[i];
      }
    }
    if (!match) continue;
    path_matched = true;
    if (route.method != request.method) continue;
    request.params = std::move(params);
    return route.handler(request);
  }
  if (unmatched_) return unmatched_(request);
  if (path_matched) {
    return ErrorResponse(405, request.method + " is not allowed on " + request.path);
  }
  return ErrorResponse(404, "no such endpoint: " + request.method + " " + request.path);
}

}  // namespace banger::core
