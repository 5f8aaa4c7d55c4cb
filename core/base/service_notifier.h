// ServiceNotifier: the sd_notify protocol without libsystemd. A service
// manager (systemd with Type=notify) passes a datagram socket in
// NOTIFY_SOCKET and, with WatchdogSec=, the interval in WATCHDOG_USEC (and
// the pid it expects pings from in WATCHDOG_PID); the service sends
// "READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=..." as datagrams
// (systemd's sd_notify(3)). Without NOTIFY_SOCKET it does nothing.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/base/status.h"

namespace banger::core {

class ServiceNotifier {
 public:
  // Reads the variables and removes them from the environment, so that no
  // child (a VMM, an exec'd tool) notifies as this service. Call before any
  // thread starts (unsetenv is not thread-safe).
  static ServiceNotifier FromEnvironment();

  bool enabled() const { return !socket_.empty(); }
  // How often to send WATCHDOG=1 (half the manager's timeout, as sd_notify
  // advises), or 0 when the manager keeps no watchdog for this process.
  std::chrono::milliseconds watchdog_interval() const { return watchdog_interval_; }

  // Sends one datagram of newline-separated assignments ("READY=1\nSTATUS=...").
  // Ok without doing anything when not enabled.
  Status Notify(std::string_view message) const;

 private:
  std::string socket_;  // a path, or "@name" for the abstract namespace
  std::chrono::milliseconds watchdog_interval_{0};
};

}  // namespace banger::core
