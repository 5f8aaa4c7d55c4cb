#include "tools/bangerctl/agent_client.h"

#include <cstdlib>
#include <iostream>

#include "core/base/unix_http_client.h"

namespace bangerctl {

int Fail(const std::string& message, int code) {
  std::cerr << "bangerctl: " << message << "\n";
  return code;
}

constexpr const char* kDefaultSocket = "/run/banger/bangerd.sock";

std::string ResolveSocket(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (const char* env = std::getenv("BANGER_SOCKET"); env != nullptr && *env != '\0') return env;
  return kDefaultSocket;
}

banger::core::Result<std::string> AgentClient::Fetch(const std::string& method,
                                                     const std::string& target,
                                                     const std::string& body) const {
  auto r = banger::core::UnixHttpCall(socket_path_, method, target, body, std::chrono::minutes(5));
  if (!r.ok()) {
    std::string hint;
    if (r.failure == banger::core::HttpFailure::kNoSocket ||
        r.failure == banger::core::HttpFailure::kRefused) {
      hint = "; is bangerd running? (set --socket or BANGER_SOCKET)";
    }
    return banger::core::Status::Error("cannot reach bangerd: " + r.error + hint);
  }
  if (r.reply.status >= 300) {
    nlohmann::json j = nlohmann::json::parse(r.reply.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("error") && j["error"].is_string()) {
      return banger::core::Status::Error(j["error"].get<std::string>());
    }
    return banger::core::Status::Error("bangerd answered HTTP " + std::to_string(r.reply.status));
  }
  return std::move(r.reply.body);
}

banger::core::Result<nlohmann::json> AgentClient::Call(const std::string& method,
                                                       const std::string& target,
                                                       const std::string& body) const {
  auto text = Fetch(method, target, body);
  if (!text) return text.status();
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return banger::core::Status::Error("bangerd sent a reply that is not JSON");
  return j;
}

banger::core::Status AgentClient::Stream(
    const std::string& method, const std::string& target, const std::string& body,
    const std::function<void(const nlohmann::json&)>& on_event) const {
  std::string pending;
  auto r = banger::core::UnixHttpStream(
      socket_path_, method, target, body, std::chrono::minutes(30), [&](std::string_view chunk) {
        pending.append(chunk);
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
          auto line = nlohmann::json::parse(pending.substr(0, nl), nullptr, false);
          pending.erase(0, nl + 1);
          if (!line.is_discarded()) on_event(line);
        }
      });
  if (!r.ok()) {
    std::string hint;
    if (r.failure == banger::core::HttpFailure::kNoSocket ||
        r.failure == banger::core::HttpFailure::kRefused) {
      hint = "; is bangerd running? (set --socket or BANGER_SOCKET)";
    }
    return banger::core::Status::Error("cannot reach bangerd: " + r.error + hint);
  }
  if (r.reply.status >= 300) {
    auto j = nlohmann::json::parse(r.reply.body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_string()) {
      return banger::core::Status::Error(j["error"].get<std::string>());
    }
    return banger::core::Status::Error("bangerd answered HTTP " + std::to_string(r.reply.status));
  }
  return banger::core::Status::Ok();
}

}  // namespace bangerctl
