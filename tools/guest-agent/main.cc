// banger-guest-agent: runs inside the guest and answers the host's health
// checks. It listens on AF_VSOCK (port --port, default 52) and answers
// `GET /healthz` with 200 and {"status":"ok","uptime_s":..,"load1":..}; any
// other request gets 404. With --unix PATH it listens on a UNIX socket
// instead: that is where fc-sim's vsock relay reaches it in tests.
// Built statically (libc only), so it can be copied into any rootfs.
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

constexpr const char* kUsage = "usage: banger-guest-agent [--port N] [--unix PATH]\n";

std::string Reply(int status, const char* reason, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

void Serve(int fd) {
  // Read the request head (bounded in size and time), answer, close.
  std::string head;
  char buf[512];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    head.append(buf, static_cast<size_t>(n));
  }
  std::string response;
  if (head.rfind("GET /healthz ", 0) == 0) {
    struct sysinfo si {};
    ::sysinfo(&si);
    char body[128];
    std::snprintf(body, sizeof body, "{\"status\":\"ok\",\"uptime_s\":%ld,\"load1\":%.2f}",
                  si.uptime, si.loads[0] / 65536.0);
    response = Reply(200, "OK", body);
  } else {
    response = Reply(404, "Not Found", "{\"error\":\"only GET /healthz is served\"}");
  }
  size_t off = 0;
  while (off < response.size()) {
    ssize_t n = ::send(fd, response.data() + off, response.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  unsigned port = 52;
  std::string unix_path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--port" && i + 1 < argc) {
      port = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    } else if (a == "--unix" && i + 1 < argc) {
      unix_path = argv[++i];
    } else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  int fd;
  if (!unix_path.empty()) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, unix_path.c_str(), sizeof addr.sun_path - 1);
    ::unlink(unix_path.c_str());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::fprintf(stderr, "banger-guest-agent: bind %s: %s\n", unix_path.c_str(),
                   std::strerror(errno));
      return 1;
    }
  } else {
    fd = ::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_vm addr{};
    addr.svm_family = AF_VSOCK;
    addr.svm_cid = VMADDR_CID_ANY;
    addr.svm_port = port;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::fprintf(stderr, "banger-guest-agent: vsock port %u: %s\n", port, std::strerror(errno));
      return 1;
    }
  }
  if (::listen(fd, 16) != 0) {
    std::fprintf(stderr, "banger-guest-agent: listen: %s\n", std::strerror(errno));
    return 1;
  }
  std::fprintf(
      stderr, "banger-guest-agent: serving GET /healthz on %s\n",
      unix_path.empty() ? ("vsock port " + std::to_string(port)).c_str() : unix_path.c_str());
  for (;;) {
    int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return 1;
    }
    std::thread(Serve, c).detach();
  }
}
