// Any bytes on the control socket, through the real server: each
// connection gets an HTTP answer that is not a 5xx (a JSON error for every
// 4xx) or is closed, and the server keeps serving. A real ControlServer on a
// UNIX socket, with routes shaped like the agent's that echo what they got.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/api/control_server.h"

namespace {

using namespace banger::core;

std::string g_socket;

HttpResponse Echo(const HttpRequest& req) {
  nlohmann::json j{{"method", req.method},
                   {"path", req.path},
                   {"params", req.params},
                   {"query", req.query},
                   {"body_bytes", req.body.size()}};
  return JsonResponse(200, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void StartServer() {
  static RouteTable routes;
  static Logger logger(LogLevel::kError);
  for (const char* pattern : {"/v1/vms", "/v1/vms/{ref}", "/v1/vms/{ref}/{action}", "/v1/info"}) {
    routes.Add("GET", pattern, Echo);
    routes.Add("POST", pattern, Echo);
    routes.Add("DELETE", pattern, Echo);
  }
  ControlServer::Limits limits;
  limits.head_timeout = std::chrono::milliseconds(200);
  limits.body_timeout = std::chrono::milliseconds(200);
  char dir[] = "/tmp/banger-fuzz-XXXXXX";
  g_socket = std::string(::mkdtemp(dir)) + "/b.sock";
  static ControlServer server(routes, PeerPolicy{::geteuid(), std::nullopt}, logger, limits);
  if (!server.Listen(g_socket)) std::abort();
  server.Start();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  StartServer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, g_socket.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) __builtin_trap();
  size_t sent = 0;
  while (sent < size) {
    ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // answered and closed before reading it all
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);  // the end of the request, as far as the client goes
  timeval tv{10, 0};  // every path ends within ~1.5 s (head 200 ms, refusal 1 s); a hang is 10
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string reply;
  char buf[16384];
  ssize_t n;
  // libFuzzer's watchdog (SIGALRM) interrupts calls: EINTR is retried.
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) reply.append(buf, static_cast<size_t>(n));
  }
  int err = n < 0 ? errno : 0;
  ::close(fd);
  if (n < 0 && reply.empty()) {  // neither answered nor closed in time, or reset unanswered
    std::fprintf(stderr, "no answer: %s\n", std::strerror(err));
    __builtin_trap();
  }
  // The first answer (a pipelined one may follow) is never a 5xx.
  if (reply.size() >= 12 && reply.rfind("HTTP/1.", 0) == 0 && reply[9] == '5') __builtin_trap();
  return 0;
}
