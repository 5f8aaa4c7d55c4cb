#include "core/api/control_server.h"

#include <utility>  // before Asio: Boost 1.74 needs std::exchange declared (GCC 12, C++20)

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace banger::core {
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr size_t kMaxBody = 1 << 20;
constexpr size_t kMaxConnections = 128;

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
      req.query[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
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
  if (::listen(fd.get(), 64) != 0)
    return Status::Error(std::string("listen: ") + std::strerror(errno));
  listen_fd_ = std::move(fd);
  wake_fd_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
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
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd.get(), 64) != 0) {
    return Status::Error("listen on " + address + ": " + std::strerror(errno));
  }
  listen_fd_ = std::move(fd);
  wake_fd_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  check_peers_ = false;
  return Status::Ok();
}

void ControlServer::Start() {
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

void ControlServer::Stop() {
  {
    std::unique_lock lock(mu_);
    if (stopping_ && !accept_thread_.joinable()) return;
    stopping_ = true;
    // Wakes threads blocked reading a keep-alive connection.
    for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
  }
  if (wake_fd_.valid()) {
    uint64_t one = 1;
    ssize_t unused = ::write(wake_fd_.get(), &one, sizeof one);
    (void)unused;
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [this] { return connections_.empty(); });
  }
  if (listen_fd_.valid()) {
    listen_fd_.Reset();
    if (!path_.empty()) ::unlink(path_.c_str());
  }
}

void ControlServer::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      logger_.Error("core", std::string("control socket poll: ") + std::strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::unique_lock lock(mu_);
    if (stopping_ || connections_.size() >= kMaxConnections) {
      lock.unlock();
      if (!stopping_) logger_.Warn("core", "control socket: too many connections; refusing one");
      ::close(fd);
      continue;
    }
    connections_.insert(fd);
    lock.unlock();
    std::thread([this, fd] { Serve(fd); }).detach();
  }
}

namespace {

using Socket = asio::generic::stream_protocol::socket;

HttpRequest ToRequest(const http::request<http::string_body>& req,
                      const std::optional<PeerCredentials>& peer) {
  HttpRequest request;
  request.method = std::string(req.method_string());
  request.target = std::string(req.target());
  request.body = req.body();
  request.peer_uid = peer ? peer->uid : static_cast<uid_t>(-1);
  request.peer_pid = peer ? peer->pid : 0;
  SplitTarget(request);
  return request;
}

// Chunked: the handler emits as it goes (e.g. a VM start's stages). The
// connection closes afterwards.
void WriteStreamed(Socket& socket, const HttpResponse& response, unsigned version) {
  boost::system::error_code ec;
  http::response<http::empty_body> head{static_cast<http::status>(response.status), version};
  head.set(http::field::server, "bangerd");
  head.set(http::field::content_type, response.content_type);
  head.keep_alive(false);
  head.chunked(true);
  http::response_serializer<http::empty_body> sr{head};
  http::write_header(socket, sr, ec);
  bool client_gone = static_cast<bool>(ec);
  response.stream([&](const std::string& chunk) {
    if (client_gone || chunk.empty()) return !client_gone;
    boost::asio::write(socket, http::make_chunk(boost::asio::buffer(chunk)), ec);
    client_gone = static_cast<bool>(ec);
    return !client_gone;
  });
  if (!client_gone) boost::asio::write(socket, http::make_chunk_last(), ec);
}

// Returns whether the connection stays open for another request.
bool WriteWhole(Socket& socket, HttpResponse&& response, unsigned version, bool keep_alive) {
  boost::system::error_code ec;
  http::response<http::string_body> res{static_cast<http::status>(response.status), version};
  res.set(http::field::server, "bangerd");
  res.set(http::field::content_type, response.content_type);
  res.keep_alive(keep_alive);
  res.body() = std::move(response.body);
  res.prepare_payload();
  http::write(socket, res, ec);
  return !ec && res.keep_alive();
}

}  // namespace

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

void ControlServer::Serve(int fd) {
  auto peer = check_peers_ ? ReadPeerCredentials(fd) : std::nullopt;
  bool allowed = !check_peers_ || (peer && PeerAllowed(*peer, policy_));
  if (!allowed) {
    logger_.Warn("core", "control socket: refused peer uid " +
                             (peer ? std::to_string(peer->uid) + " pid " + std::to_string(peer->pid)
                                   : std::string("(unknown)")) +
                             ": not root, the agent's uid, or in the socket group");
  }
  asio::io_context io;
  // Generic: the same code serves the UNIX control socket and a TCP one.
  sockaddr_storage local{};
  socklen_t local_len = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);
  asio::generic::stream_protocol protocol(local.ss_family,
                                          local.ss_family == AF_UNIX ? 0 : IPPROTO_TCP);
  Socket socket(io, protocol, fd);
  boost::beast::flat_buffer buffer;
  for (;;) {
    boost::system::error_code ec;
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    http::read(socket, buffer, parser, ec);
    if (ec) break;  // closed, reset, or garbage: nothing to answer
    auto& req = parser.get();
    HttpRequest request = ToRequest(req, peer);
    HttpResponse response = Answer(request, allowed);
    if (response.stream) {
      WriteStreamed(socket, response, req.version());
      break;
    }
    if (!WriteWhole(socket, std::move(response), req.version(), allowed && req.keep_alive())) break;
  }
  // Forget and close under the lock: once closed, accept may hand out the
  // same descriptor number again, and Stop must never shut down a stranger.
  boost::system::error_code ignored;
  std::lock_guard lock(mu_);
  connections_.erase(fd);
  socket.shutdown(Socket::shutdown_both, ignored);
  socket.close(ignored);
  if (connections_.empty()) idle_.notify_all();
}

}  // namespace banger::core
