#include "core/base/service_notifier.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/base/unique_fd.h"

namespace banger::core {

ServiceNotifier ServiceNotifier::FromEnvironment() {
  ServiceNotifier n;
  if (const char* s = std::getenv("NOTIFY_SOCKET"); s != nullptr && (s[0] == '/' || s[0] == '@')) {
    n.socket_ = s;
  }
  const char* usec = std::getenv("WATCHDOG_USEC");
  const char* pid = std::getenv("WATCHDOG_PID");
  // WATCHDOG_PID names the process the manager watches: when it is not this
  // one (the variables were inherited), the watchdog is someone else's.
  bool ours = pid == nullptr || std::strtoll(pid, nullptr, 10) == ::getpid();
  if (usec != nullptr && ours && n.enabled()) {
    long long us = std::strtoll(usec, nullptr, 10);
    if (us > 0) n.watchdog_interval_ = std::chrono::milliseconds(std::max(1LL, us / 2000));
  }
  for (const char* name : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}) ::unsetenv(name);
  return n;
}

Status ServiceNotifier::Notify(std::string_view message) const {
  if (!enabled()) return Status::Ok();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_.size() >= sizeof addr.sun_path) {
    return Status::Error("NOTIFY_SOCKET " + socket_ + ": the path is too long");
  }
  std::memcpy(addr.sun_path, socket_.data(), socket_.size());
  if (socket_[0] == '@') addr.sun_path[0] = '\0';  // abstract
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::Error(std::string("notify: socket: ") + std::strerror(errno));
  ssize_t sent = ::sendto(fd.get(), message.data(), message.size(), MSG_NOSIGNAL,
                          reinterpret_cast<const sockaddr*>(&addr), len);
  if (sent != static_cast<ssize_t>(message.size())) {
    return Status::Error("notify " + socket_ + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace banger::core
