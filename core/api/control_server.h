// ControlServer: HTTP/1.1 on a UNIX socket (the control API that bangerctl
// and `curl --unix-socket` use), or on a loopback TCP port (metrics).
//
// One I/O thread (Asio) accepts and reads every request, so an idle or slow
// connection costs a descriptor and a timer, never a thread: a request head
// must arrive within Limits::head_timeout and its body within body_timeout
// (408, then the close), a head over max_head_bytes is 431, a target over
// max_target_bytes 414, a body over max_body_bytes 413, and anything HTTP/1.1
// does not allow 400: every malformed request is answered with a JSON
// message before the connection closes. The peer's credentials are checked
// at accept: a refused peer gets 403 and is closed at once; a uid other than
// root and the agent's own may hold at most max_connections_per_uid
// connections (503 beyond; one its peer has closed, or whose last answer is
// being sent, no longer counts). A request read whole runs its handler on a
// thread of its own (handlers may block: a VM start takes seconds) and the
// connection returns to the I/O thread for the next request (keep-alive).
//
// The socket file is created mode 0660 (group: the configured socket group)
// and removed by Stop. Listen/Start/Stop are called from one thread;
// handlers run concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "core/api/peer_credentials.h"
#include "core/api/route_table.h"
#include "core/base/logger.h"
#include "core/base/status.h"
#include "core/base/unique_fd.h"

namespace banger::core {

class ControlServer {
 public:
  struct Limits {
    std::chrono::milliseconds head_timeout{10000};  // also how long a keep-alive may idle
    std::chrono::milliseconds body_timeout{30000};
    std::chrono::milliseconds write_timeout{30000};  // a reader that stops reading is cut
    size_t max_head_bytes = 8192;
    size_t max_target_bytes = 8192;
    size_t max_body_bytes = 1 << 20;
    size_t max_connections_per_uid = 64;  // root and the agent's uid: no cap
    size_t max_handlers = 512;            // requests being handled at once (503 beyond)
    size_t max_connections = 8192;        // all peers together (503 beyond)
  };

  ControlServer(const RouteTable& routes, PeerPolicy policy, const Logger& logger);
  ControlServer(const RouteTable& routes, PeerPolicy policy, const Logger& logger, Limits limits);
  ~ControlServer();

  // Binds `path` (its directory is created 0755 if missing). A stale socket
  // file nobody answers on is replaced; a live one is an error (another
  // agent serves it).
  Status Listen(const std::string& path);
  // Instead of a UNIX socket: TCP on a loopback address ("127.0.0.1:9464",
  // "[::1]:9464"); anything else is refused. There are no peer credentials
  // on TCP, so serve only what anyone on the host may read.
  Status ListenLoopbackTcp(const std::string& address);
  // Starts the accept thread.
  void Start();
  // Stops accepting, closes open connections, waits for handlers, removes
  // the socket file. Idempotent.
  void Stop();
  // True when the I/O thread (which accepts and reads every request) runs
  // a task posted to it within `timeout`: the liveness a watchdog wants.
  bool Responsive(std::chrono::milliseconds timeout) const;

 private:
  struct Impl;  // Asio and Beast stay in the .cc
  // The handler's answer, or 403 for a refused peer, or 500 for a handler that threw.
  HttpResponse Answer(HttpRequest& request, bool allowed) const;

  const RouteTable& routes_;
  PeerPolicy policy_;
  const Logger& logger_;
  Limits limits_;
  std::string path_;
  UniqueFd listen_fd_;
  bool check_peers_ = true;  // false for TCP
  std::unique_ptr<Impl> impl_;
};

}  // namespace banger::core
