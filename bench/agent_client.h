// What the agent benchmarks share: a JSON call to the agent's socket that
// ends the benchmark with the reason when it fails (a benchmark that goes on
// after a failed call measures nothing).
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "core/base/unix_http_client.h"

namespace banger::bench {

inline nlohmann::json CallOrExit(const std::string& socket, const std::string& method,
                                 const std::string& path, const nlohmann::json& body = nullptr) {
  auto r = core::UnixHttpCall(socket, method, path, body.is_null() ? "" : body.dump(),
                              std::chrono::seconds(300));
  if (!r.ok()) {
    std::fprintf(stderr, "%s %s: %s\n", method.c_str(), path.c_str(), r.error.c_str());
    std::exit(1);
  }
  return nlohmann::json::parse(r.reply.body);
}

// A GET as a client sees it (the whole reply read, not parsed), in
// milliseconds; anything but 200 ends the benchmark.
inline double TimedGetMs(const std::string& socket, const std::string& path) {
  auto t = std::chrono::steady_clock::now();
  auto r = core::UnixHttpCall(socket, "GET", path, "", std::chrono::seconds(300));
  if (!r.ok() || r.reply.status != 200) {
    std::fprintf(stderr, "GET %s: %s\n", path.c_str(),
                 r.ok() ? r.reply.body.c_str() : r.error.c_str());
    std::exit(1);
  }
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace banger::bench
