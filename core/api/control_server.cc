#include "core/api/control_server.h"

#include <utility>  // before Asio: Boost 1.74 needs std::exchange declared (GCC 12, C++20)

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

namespace banger::core {
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

sockaddr_un SocketAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return addr;
}

// True when something accepts connections on `path`.
bool SocketIsLive(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = SocketAddress(path);
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

void SplitTarget(HttpRequest& req) {
  auto q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q == std::string::npos) return;
  std::string rest = req.target.substr(q + 1);
  size_t i = 0;
  while (i <= rest.size()) {
    size_t j = rest.find('&', i);
    if (j == std::string::npos) j = rest.size();
    std::string kv = rest.substr(i, j - i);
    if (!kv.empty()) {
      auto eq = kv.find('=');
      req.query[PercentDecode(kv.substr(0, eq))] =
          eq == std::string::npos ? "" : PercentDecode(kv.substr(eq + 1));
    }
    i = j + 1;
  }
}

}  // namespace

Status ControlServer::Listen(const std::string& path) {
  std::error_code ec;
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty() && !std::filesystem::exists(dir)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::Error("control socket dir " + dir.string() + ": " + ec.message());
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status::Error("control socket " + path + " exists and is not a socket; remove it");
    }
    if (SocketIsLive(path)) {
      return Status::Error("control socket " + path +
                           " is in use by another process (is another bangerd running?)");
    }
    ::unlink(path.c_str());  // stale: left by an agent that was killed
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::Error(std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr = SocketAddress(path);
  // Bind under a umask that leaves no window where the socket is more open
  // than 0660.
  mode_t old = ::umask(0117);
  int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0) return Status::Error("bind " + path + ": " + std::strerror(errno));
  if (policy_.group && ::chown(path.c_str(), static_cast<uid_t>(-1), *policy_.group) != 0) {
    return Status::Error("chown " + path + ": " + std::strerror(errno));
  }
  if (::chmod(path.c_str(), 0660) != 0) {
    return Status::Error("chmod " + path + ": " + std::strerror(errno));
  }
  if (::listen(fd.get(), SOMAXCONN) != 0)
    return Status::Error(std::string("listen: ") + std::strerror(errno));
  listen_fd_ = std::move(fd);
  path_ = path;
  return Status::Ok();
}

Status ControlServer::ListenLoopbackTcp(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    return Status::Invalid("'" + address + "' is not host:port (e.g. 127.0.0.1:9464)");
  }
  std::string host = address.substr(0, colon), port_text = address.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end || port < 1 || port > 65535) {
    return Status::Invalid("'" + port_text + "' is not a TCP port");
  }
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127) {
      return Status::Invalid(host + " is not a loopback address (127.0.0.0/8 or ::1)");
    }
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) {
      return Status::Invalid(host + " is not a loopback address (127.0.0.0/8 or ::1)");
    }
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v6;
  } else {
    return Status::Invalid("'" + host + "' is not an IP address");
  }
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      ::listen(fd.get(), SOMAXCONN) != 0) {
    return Status::Error("listen on " + address + ": " + std::strerror(errno));
  }
  listen_fd_ = std::move(fd);
  check_peers_ = false;
  return Status::Ok();
}

// ---- serving ----

namespace {

using Socket = asio::generic::stream_protocol::socket;
using Clock = std::chrono::steady_clock;

HttpRequest ToRequest(const http::request<http::string_body>& req,
                      const std::optional<PeerCredentials>& peer) {
  HttpRequest request;
  request.method = std::string(req.method_string());
  request.target = std::string(req.target());
  request.body = req.body();
  request.peer_uid = peer ? peer->uid : static_cast<uid_t>(-1);
  request.peer_gid = peer ? peer->gid : static_cast<gid_t>(-1);
  request.peer_pid = peer ? peer->pid : 0;
  SplitTarget(request);
  return request;
}

// Writes all of `data` to a socket Asio keeps non-blocking, waiting for room
// until `deadline`. False when the peer is gone or too slow.
bool SendAll(int fd, std::string_view data, Clock::time_point deadline, int flags = 0) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | flags);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) return false;
      continue;
    }
    return false;
  }
  return true;
}

// The status line and headers of `response` (its body is sent after them
// as it is: a listing of 1,000 VMs is ~1.3 MB, not copied again here).
std::string SerializeHead(const HttpResponse& response, unsigned version, bool keep_alive) {
  http::response<http::empty_body> res{static_cast<http::status>(response.status), version};
  res.set(http::field::server, "bangerd");
  res.set(http::field::content_type, response.content_type);
  res.keep_alive(keep_alive);
  res.content_length(response.body.size());
  std::ostringstream out;
  out << res.base();
  return out.str();
}

std::string Serialize(const HttpResponse& response, unsigned version, bool keep_alive) {
  return SerializeHead(response, version, keep_alive) + response.body;
}

// What a request that could not be read deserves, by what went wrong.
std::pair<int, std::string> ReadFailure(const boost::system::error_code& ec) {
  if (ec == http::error::header_limit) {
    return {431, "the request head is too large"};
  }
  if (ec == http::error::body_limit) return {413, "the request body is too large"};
  if (ec == http::error::bad_version) {
    return {400, "malformed request: bad version (this socket speaks HTTP/1.1; use HTTP/1.1)"};
  }
  return {400, "malformed request: " + ec.message()};
}

}  // namespace

struct ControlServer::Impl : std::enable_shared_from_this<ControlServer::Impl> {
  struct Connection;

  Impl(ControlServer& server) : server(server) {}

  ControlServer& server;
  asio::io_context io;
  std::optional<asio::basic_socket_acceptor<asio::generic::stream_protocol>> acceptor;
  std::thread io_thread;
  std::mutex mu;
  std::condition_variable handlers_done;
  size_t handlers = 0;  // requests being handled, on their own threads
  std::map<uid_t, size_t> per_uid;
  std::set<std::shared_ptr<Connection>> open;
  bool stopping = false;

  void Accept();
  static void TimeOut(Connection& c, boost::system::error_code ec);
  void Refuse(std::shared_ptr<Connection> c, int status, const std::string& message);
  void Drain(std::shared_ptr<Connection> c);
  void ReadHead(std::shared_ptr<Connection> c);
  void ReadBody(std::shared_ptr<Connection> c);
  // A read that failed: a malformed request is answered, a vanished peer
  // just closed.
  void EndRead(std::shared_ptr<Connection> c, boost::system::error_code ec);
  void Handle(std::shared_ptr<Connection> c);
  void Close(const std::shared_ptr<Connection>& c);
  // How many of `uid`'s counted connections its peer has closed already,
  // with nothing left unread, while their end of stream is not read here
  // yet: a client that closes and reconnects at once is not refused for
  // connections it no longer holds. Under mu.
  size_t DepartedLocked(uid_t uid) const;
  // Takes `c` out of its uid's count. Under mu.
  void UncountLocked(Connection& c);
};

struct ControlServer::Impl::Connection {
  Connection(asio::io_context& io, Socket socket) : socket(std::move(socket)), timer(io) {}
  Socket socket;
  asio::steady_timer timer;
  boost::beast::flat_buffer buffer;
  std::optional<http::request_parser<http::string_body>> parser;
  std::optional<PeerCredentials> peer;
  bool allowed = true;
  bool capped = false;    // counted in per_uid (under mu)
  bool handling = false;  // a handler thread has the socket
  bool closed = false;
  bool timed_out = false;
};

void ControlServer::Impl::TimeOut(Connection& c, boost::system::error_code ec) {
  // The read may have ended in the same turn of the loop (and closed the
  // connection): a late timer does nothing, and never throws.
  if (ec || c.closed) return;
  c.timed_out = true;
  boost::system::error_code ignored;
  c.socket.cancel(ignored);
}

void ControlServer::Impl::Accept() {
  acceptor->async_accept([this](boost::system::error_code ec, Socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
      // Out of descriptors (EMFILE, ENFILE): accepting again at once would
      // spin; the backlog waits a moment instead.
      auto pause = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(100));
      pause->async_wait([this, pause](boost::system::error_code) { Accept(); });
      return;
    }
    auto c = std::make_shared<Connection>(io, std::move(socket));
    const int fd = c->socket.native_handle();
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // Asio accepts without it
    const Limits& limits = server.limits_;
    if (server.check_peers_) {
      c->peer = ReadPeerCredentials(fd);
      c->allowed = c->peer && PeerAllowed(*c->peer, server.policy_);
    }
    size_t now_open;
    {
      std::lock_guard lock(mu);
      open.insert(c);
      now_open = open.size();
    }
    if (now_open > limits.max_connections) {
      // Past what the agent will hold for everyone together (a TCP listener
      // has no uids to cap): answered and closed at once.
      Refuse(c, 503,
             "the agent holds " + std::to_string(limits.max_connections) +
                 " connections; close some and retry");
    } else if (!c->allowed) {
      server.logger_.Warn("core", "control socket: refused peer uid " +
                                      (c->peer ? std::to_string(c->peer->uid) + " pid " +
                                                     std::to_string(c->peer->pid)
                                               : std::string("(unknown)")) +
                                      ": not root, the agent's uid, or in the socket group");
      Refuse(c, 403,
             "permission denied: uid " +
                 (c->peer ? std::to_string(c->peer->uid) : std::string("(unknown)")) +
                 " may not use the banger control socket");
    } else if (c->peer && c->peer->uid != 0 && c->peer->uid != server.policy_.agent_uid) {
      const size_t cap = limits.max_connections_per_uid;
      bool admitted;
      {
        std::lock_guard lock(mu);
        size_t& held = per_uid[c->peer->uid];
        admitted = held < cap || held - DepartedLocked(c->peer->uid) < cap;
        if (admitted) {
          ++held;
          c->capped = true;
        }
      }
      if (admitted) {
        ReadHead(c);
      } else {
        Refuse(c, 503,
               "too many connections from uid " + std::to_string(c->peer->uid) + " (at most " +
                   std::to_string(cap) + "); close some and retry");
      }
    } else {
      ReadHead(c);
    }
    Accept();
  });
}

size_t ControlServer::Impl::DepartedLocked(uid_t uid) const {
  size_t departed = 0;
  for (const auto& c : open) {
    if (!c->capped || c->handling || c->closed || c->peer->uid != uid) continue;
    // POLLHUP on a UNIX socket: the peer closed both ways (a half-close,
    // SHUT_WR, is only POLLRDHUP: that peer still reads its answer). A
    // request it sent before it left is still read and handled: it counts
    // until then.
    const int fd = c->socket.native_handle();
    pollfd p{fd, 0, 0};
    int unread = 0;
    if (::poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) &&
        ::ioctl(fd, FIONREAD, &unread) == 0 && unread == 0 && c->buffer.size() == 0) {
      ++departed;
    }
  }
  return departed;
}

void ControlServer::Impl::UncountLocked(Connection& c) {
  if (!c.capped || !c.peer) return;
  c.capped = false;
  auto it = per_uid.find(c.peer->uid);
  if (it != per_uid.end() && --it->second == 0) per_uid.erase(it);
}

void ControlServer::Impl::Refuse(std::shared_ptr<Connection> c, int status,
                                 const std::string& message) {
  // Said at once, without reading what the peer sends, then closed.
  auto text = std::make_shared<std::string>(Serialize(ErrorResponse(status, message), 11, false));
  c->timer.expires_after(std::chrono::seconds(1));
  c->timer.async_wait([this, c](boost::system::error_code ec) {
    if (!ec) Close(c);
  });
  asio::async_write(c->socket, asio::buffer(*text),
                    [this, c, text](boost::system::error_code ec, size_t) {
                      if (ec) {
                        Close(c);
                        return;
                      }
                      // Said; now let the peer finish sending (read and
                      // dropped) so its read of the answer is not cut by a
                      // reset, until it closes or the timer ends it.
                      boost::system::error_code ignored;
                      c->socket.shutdown(Socket::shutdown_send, ignored);
                      Drain(c);
                    });
}

void ControlServer::Impl::Drain(std::shared_ptr<Connection> c) {
  auto sink = std::make_shared<std::array<char, 16384>>();
  c->socket.async_read_some(asio::buffer(*sink),
                            [this, c, sink](boost::system::error_code ec, size_t) {
                              if (ec || c->closed) {
                                c->timer.cancel();
                                Close(c);
                                return;
                              }
                              Drain(c);
                            });
}

void ControlServer::Impl::EndRead(std::shared_ptr<Connection> c, boost::system::error_code ec) {
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
    Close(c);  // the peer left (or the server stops): nobody to answer
    return;
  }
  auto [status, message] = ReadFailure(ec);
  Refuse(std::move(c), status, message);
}

void ControlServer::Impl::ReadHead(std::shared_ptr<Connection> c) {
  const Limits& limits = server.limits_;
  c->parser.emplace();
  // Beast's limit is a hard stop far above ours; ours is checked after.
  c->parser->header_limit(static_cast<uint32_t>(std::max<size_t>(limits.max_head_bytes, 8192) * 8));
  c->parser->body_limit(limits.max_body_bytes);
  c->timed_out = false;
  c->timer.expires_after(limits.head_timeout);
  c->timer.async_wait([c](boost::system::error_code ec) { TimeOut(*c, ec); });
  http::async_read_header(
      c->socket, c->buffer, *c->parser, [this, c](boost::system::error_code ec, size_t head_bytes) {
        c->timer.cancel();
        const Limits& limits = server.limits_;
        if (c->timed_out) {
          // A head begun and not finished is answered; silence is closed.
          if (c->buffer.size() > 0 || head_bytes > 0) {
            Refuse(c, 408,
                   "the request head did not arrive within " +
                       std::to_string(limits.head_timeout.count()) + " ms");
          } else {
            Close(c);
          }
          return;
        }
        if (ec) {
          EndRead(c, ec);
          return;
        }
        auto& req = c->parser->get();
        boost::beast::string_view target = req.target();
        if (target.size() > limits.max_target_bytes) {
          Refuse(c, 414,
                 "the request target is " + std::to_string(target.size()) + " bytes; at most " +
                     std::to_string(limits.max_target_bytes));
          return;
        }
        if (head_bytes > limits.max_head_bytes) {
          Refuse(c, 431,
                 "the request head is " + std::to_string(head_bytes) + " bytes; at most " +
                     std::to_string(limits.max_head_bytes));
          return;
        }
        if (req.version() != 11 && req.version() != 10) {
          Refuse(c, 400,
                 "HTTP/" + std::to_string(req.version() / 10) + "." +
                     std::to_string(req.version() % 10) + " is not spoken here; use HTTP/1.1");
          return;
        }
        if (req.find(http::field::transfer_encoding) != req.end() && !c->parser->chunked()) {
          // RFC 9112 6.3: a request body whose last coding is not chunked
          // has no knowable length.
          Refuse(c, 400, "malformed request: Transfer-Encoding must end in chunked");
          return;
        }
        if (req.count(http::field::host) > 1) {
          Refuse(c, 400, "malformed request: more than one Host header");
          return;
        }
        if (req.version() == 11 && req.find(http::field::host) == req.end()) {
          Refuse(c, 400, "an HTTP/1.1 request needs a Host header");
          return;
        }
        for (unsigned char ch : target) {
          if (ch <= 0x20 || ch >= 0x7f) {
            Refuse(c, 400,
                   "the request target must be printable ASCII (percent-encode anything else)");
            return;
          }
        }
        auto expect = req.find(http::field::expect);
        if (expect != req.end() && !c->parser->is_done()) {
          if (!boost::beast::iequals(expect->value(), "100-continue")) {
            Refuse(c, 417, "the only expectation understood is 100-continue");
            return;
          }
          // The client waits for this before it sends the body.
          static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          asio::async_write(c->socket, asio::buffer(kContinue),
                            [this, c](boost::system::error_code ec, size_t) {
                              if (ec) {
                                Close(c);
                                return;
                              }
                              ReadBody(c);
                            });
          return;
        }
        ReadBody(c);
      });
}

void ControlServer::Impl::ReadBody(std::shared_ptr<Connection> c) {
  if (c->parser->is_done()) {
    Handle(c);
    return;
  }
  c->timed_out = false;
  c->timer.expires_after(server.limits_.body_timeout);
  c->timer.async_wait([c](boost::system::error_code ec) { TimeOut(*c, ec); });
  http::async_read(c->socket, c->buffer, *c->parser,
                   [this, c](boost::system::error_code ec, size_t) {
                     c->timer.cancel();
                     if (c->timed_out) {
                       Refuse(c, 408,
                              "the request body did not arrive within " +
                                  std::to_string(server.limits_.body_timeout.count()) + " ms");
                       return;
                     }
                     if (ec) {
                       EndRead(c, ec);
                       return;
                     }
                     Handle(c);
                   });
}

void ControlServer::Impl::Handle(std::shared_ptr<Connection> c) {
  bool stop = false;
  size_t busy = 0;  // handlers running when there is no room for one more
  {
    std::lock_guard lock(mu);
    if (stopping) {
      stop = true;
    } else if (handlers >= server.limits_.max_handlers) {
      busy = handlers;
    } else {
      ++handlers;
    }
  }
  // Close and Refuse take mu themselves.
  if (stop) {
    Close(c);
    return;
  }
  if (busy > 0) {
    Refuse(c, 503, "the agent is handling " + std::to_string(busy) + " requests; retry shortly");
    return;
  }
  c->handling = true;
  // A handler may block for seconds: its own thread. The socket is this
  // thread's alone until the connection is handed back.
  std::thread([this, conn = std::move(c)]() mutable {
    ::pthread_setname_np(::pthread_self(), "api-handler");  // as ps -T and top -H show it
    std::shared_ptr<Connection> c = std::move(conn);
    auto& req = c->parser->get();
    HttpRequest request = ToRequest(req, c->peer);
    HttpResponse response = server.Answer(request, c->allowed);
    const int fd = c->socket.native_handle();
    const unsigned version = req.version();
    auto deadline = Clock::now() + server.limits_.write_timeout;
    bool keep = false;
    if (response.stream) {
      // Chunked: the handler emits as it goes (a VM start's stages); the
      // connection closes afterwards.
      std::string head =
          "HTTP/1." + std::to_string(version % 10) + " " + std::to_string(response.status) + " " +
          std::string(http::obsolete_reason(static_cast<http::status>(response.status))) +
          "\r\nServer: bangerd\r\nContent-Type: " + response.content_type +
          "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
      bool ok = SendAll(fd, head, deadline);
      response.stream([&](const std::string& chunk) {
        if (!ok) return false;
        if (chunk.empty()) {
          // A probe from a stream with nothing to send: is the reader still
          // there, and is the server not shutting down? Either ends it.
          {
            std::lock_guard lock(mu);
            if (stopping) return ok = false;
          }
          pollfd p{fd, POLLRDHUP, 0};
          if (::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) ok = false;
          return ok;
        }
        char size[24];
        std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
        ok = SendAll(fd, size, Clock::now() + server.limits_.write_timeout) &&
             SendAll(fd, chunk, Clock::now() + server.limits_.write_timeout) &&
             SendAll(fd, "\r\n", Clock::now() + server.limits_.write_timeout);
        return ok;
      });
      // What comes last on a connection no longer counts against its uid:
      // a client that reads the end and connects again at once is let in.
      {
        std::lock_guard lock(mu);
        UncountLocked(*c);
      }
      if (ok) SendAll(fd, "0\r\n\r\n", Clock::now() + server.limits_.write_timeout);
    } else {
      keep = c->allowed && req.keep_alive();
      if (!keep) {
        std::lock_guard lock(mu);
        UncountLocked(*c);
      }
      // MSG_MORE: on TCP (metrics) the head waits for the body, not for an
      // ACK (Nagle with delayed ACKs held a small body ~40 ms).
      keep = SendAll(fd, SerializeHead(response, version, keep), deadline,
                     response.body.empty() ? 0 : MSG_MORE) &&
             SendAll(fd, response.body, deadline) && keep;
    }
    asio::post(io, [this, c, keep] {
      c->handling = false;
      if (keep && !c->closed) {
        ReadHead(c);
      } else {
        Close(c);
      }
    });
    // Last: once the count is down, Stop may destroy everything.
    c.reset();
    std::lock_guard lock(mu);
    if (--handlers == 0) handlers_done.notify_all();
  }).detach();
}

void ControlServer::Impl::Close(const std::shared_ptr<Connection>& c) {
  if (c->closed) return;
  c->closed = true;
  boost::system::error_code ignored;
  c->timer.cancel();
  c->socket.shutdown(Socket::shutdown_both, ignored);
  c->socket.close(ignored);
  std::lock_guard lock(mu);
  UncountLocked(*c);
  open.erase(c);
}

ControlServer::ControlServer(const RouteTable& routes, PeerPolicy policy, const Logger& logger)
    : ControlServer(routes, policy, logger, Limits{}) {}

ControlServer::ControlServer(const RouteTable& routes, PeerPolicy policy, const Logger& logger,
                             Limits limits)
    : routes_(routes), policy_(policy), logger_(logger), limits_(limits) {}

ControlServer::~ControlServer() {
  Stop();
}

void ControlServer::Start() {
  impl_ = std::make_unique<Impl>(*this);
  sockaddr_storage local{};
  socklen_t local_len = sizeof local;
  ::getsockname(listen_fd_.get(), reinterpret_cast<sockaddr*>(&local), &local_len);
  // Generic: the same code serves the UNIX control socket and a TCP one.
  asio::generic::stream_protocol protocol(local.ss_family,
                                          local.ss_family == AF_UNIX ? 0 : IPPROTO_TCP);
  impl_->acceptor.emplace(impl_->io, protocol, listen_fd_.Release());
  // Never more connections than descriptors left for everything else.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    size_t spare = files.rlim_cur > 1024 ? files.rlim_cur - 512 : files.rlim_cur / 2;
    limits_.max_connections = std::min(limits_.max_connections, spare);
  }
  impl_->Accept();
  impl_->io_thread = std::thread([impl = impl_.get()] {
    ::pthread_setname_np(::pthread_self(), "api-io");
    impl->io.run();
  });
}

void ControlServer::Stop() {
  if (impl_) {
    Impl& impl = *impl_;
    {
      std::lock_guard lock(impl.mu);
      impl.stopping = true;
    }
    // Stop accepting and close every connection waiting for a request.
    asio::post(impl.io, [&impl] {
      boost::system::error_code ignored;
      impl.acceptor->close(ignored);
      std::vector<std::shared_ptr<Impl::Connection>> all;
      {
        std::lock_guard lock(impl.mu);
        all.assign(impl.open.begin(), impl.open.end());
      }
      for (auto& c : all) c->socket.cancel(ignored);
    });
    {
      // Handlers finish what they began (a VM start is not cut in half).
      std::unique_lock lock(impl.mu);
      impl.handlers_done.wait(lock, [&impl] { return impl.handlers == 0; });
    }
    impl.io.stop();
    if (impl.io_thread.joinable()) impl.io_thread.join();
    impl_.reset();
  }
  listen_fd_.Reset();
  if (!path_.empty()) {
    ::unlink(path_.c_str());
    path_.clear();
  }
}

bool ControlServer::Responsive(std::chrono::milliseconds timeout) const {
  if (!impl_) return false;
  // Shared: the task may run after this call gave up on it.
  auto ran = std::make_shared<std::promise<void>>();
  std::future<void> done = ran->get_future();
  asio::post(impl_->io, [ran] { ran->set_value(); });
  return done.wait_for(timeout) == std::future_status::ready;
}

HttpResponse ControlServer::Answer(HttpRequest& request, bool allowed) const {
  if (!allowed) {
    return ErrorResponse(403, "permission denied: uid " + std::to_string(request.peer_uid) +
                                  " may not use the banger control socket");
  }
  try {
    return routes_.Dispatch(request);
  } catch (const std::exception& e) {
    logger_.Error("core", request.method + " " + request.path + ": " + e.what());
    return ErrorResponse(500, std::string("internal error: ") + e.what());
  }
}

}  // namespace banger::core
