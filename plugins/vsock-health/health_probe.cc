#include "plugins/vsock-health/health_probe.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

namespace vsockhealth {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

int Left(Clock::time_point deadline) {
  return static_cast<int>(std::max<int64_t>(
      0, std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count()));
}

// Reads until `stop` says enough, EOF, or the deadline. -1 on timeout.
int ReadUntil(int fd, std::string& out, Clock::time_point deadline,
              bool (*stop)(const std::string&)) {
  char buf[1024];
  while (!stop(out)) {
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, Left(deadline));
    if (n == 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    if (n < 0 && errno != EINTR) return -1;
    if (n < 0) continue;
    ssize_t got = ::read(fd, buf, sizeof buf);
    if (got <= 0) return 0;  // closed
    out.append(buf, static_cast<size_t>(got));
  }
  return 1;
}

}  // namespace

ProbeResult Probe(const std::string& uds, uint32_t port, milliseconds timeout, bool http) {
  ProbeResult r;
  auto start = Clock::now();
  auto deadline = start + timeout;
  auto done = [&](bool healthy, std::string step, std::string error) {
    r.healthy = healthy;
    r.step = std::move(step);
    r.error = std::move(error);
    r.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return r;
  };
  auto backoff = milliseconds(20);
  std::string last_step, last_error;
  for (;;) {
    if (Clock::now() >= deadline) {
      return done(false, last_step.empty() ? "timeout" : last_step,
                  "gave up after " + std::to_string(timeout.count()) + " ms and " +
                      std::to_string(r.attempts) +
                      " attempts: " + (last_error.empty() ? "no answer" : last_error));
    }
    ++r.attempts;
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, uds.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      int err = errno;
      if (err == ENOENT)
        return done(false, "socket", "no vsock socket at " + uds + " (is the VM running?)");
      last_step = "socket";
      last_error = "connect " + uds + ": " + std::strerror(err);
    } else {
      std::string hello =
          "CONNECT " + std::to_string(port) + "\n";  // one write, as Firecracker asks
      if (::send(fd.get(), hello.data(), hello.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(hello.size())) {
        last_step = "connect";
        last_error = "write CONNECT: " + std::string(std::strerror(errno));
      } else {
        std::string line;
        auto attempt_deadline = std::min(deadline, Clock::now() + milliseconds(1000));
        int got = ReadUntil(fd.get(), line, attempt_deadline,
                            [](const std::string& s) { return s.find('\n') != std::string::npos; });
        if (got == 0 && line.empty()) {
          last_step = "connect";
          last_error = "CONNECT " + std::to_string(port) +
                       " refused: nothing listens on that port in the guest (yet)";
        } else if (got < 0 && line.empty()) {
          // Cut short by the overall deadline, not by its own limit: the
          // previous attempt's reason says more than this one.
          if (attempt_deadline < deadline || last_step.empty()) {
            last_step = "ok";
            last_error =
                "no OK to CONNECT " + std::to_string(port) + " (" + std::strerror(errno) + ")";
          }
        } else {
          std::string first = line.substr(0, line.find('\n'));
          if (first.rfind("OK ", 0) != 0) {
            return done(false, "ok",
                        "bad reply to CONNECT " + std::to_string(port) + ": '" + first + "'");
          }
          if (!http) return done(true, "", "");
          std::string rest = line.substr(line.find('\n') + 1);
          const std::string request = "GET /healthz HTTP/1.0\r\nHost: guest\r\n\r\n";
          ::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL);
          int read = ReadUntil(fd.get(), rest, deadline, [](const std::string&) { return false; });
          if (read < 0)
            return done(false, "timeout", "the guest agent did not answer GET /healthz in time");
          if (rest.rfind("HTTP/1.", 0) != 0 || rest.size() < 12) {
            return done(false, "reply",
                        "not an HTTP answer from the guest agent: '" +
                            rest.substr(0, rest.find('\r')) + "'");
          }
          int status = std::atoi(rest.c_str() + 9);
          auto body_at = rest.find("\r\n\r\n");
          std::string body = body_at == std::string::npos ? "" : rest.substr(body_at + 4);
          if (status != 200) {
            return done(false, "reply",
                        "the guest agent answered " + std::to_string(status) + ": " + body);
          }
          r.guest = body;
          return done(true, "", "");
        }
      }
    }
    // Not ready (yet): back off, within the deadline.
    std::this_thread::sleep_for(std::min(backoff, milliseconds(Left(deadline))));
    backoff = std::min(backoff * 2, milliseconds(400));
  }
}

}  // namespace vsockhealth
