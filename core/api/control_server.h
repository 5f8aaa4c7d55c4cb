// ControlServer: HTTP/1.1 on a UNIX socket (the control API that bangerctl
// and `curl --unix-socket` use). Each connection is served on its own thread
// with keep-alive; the peer's credentials are checked at accept (see
// PeerPolicy) and a refused peer gets 403 and a log line. The socket file is
// created mode 0660 (group: the configured socket group) and removed by Stop.
// Listen/Start/Stop are called from one thread; handlers run concurrently.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "core/api/peer_credentials.h"
#include "core/api/route_table.h"
#include "core/base/logger.h"
#include "core/base/status.h"
#include "core/base/unique_fd.h"

namespace banger::core {

class ControlServer {
 public:
  ControlServer(const RouteTable& routes, PeerPolicy policy, const Logger& logger)
      : routes_(routes), policy_(policy), logger_(logger) {}
  ~ControlServer() { Stop(); }

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

 private:
  void AcceptLoop();
  void Serve(int fd);  // one connection, on its own thread
  // The handler's answer, or 403 for a refused peer, or 500 for a handler that threw.
  HttpResponse Answer(HttpRequest& request, bool allowed) const;

  const RouteTable& routes_;
  PeerPolicy policy_;
  const Logger& logger_;
  std::string path_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd that ends the accept loop
  std::thread accept_thread_;
  std::mutex mu_;
  std::condition_variable idle_;
  std::set<int> connections_;
  bool stopping_ = false;
  bool check_peers_ = true;  // false for TCP
};

}  // namespace banger::core
