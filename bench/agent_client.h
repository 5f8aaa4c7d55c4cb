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

}  // namespace banger::bench
