#include "plugins/vsock-health/health_probe.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

// What one attempt came to: retry (the guest is not listening yet: step and
// error say why), failed for good, or through (OK received; `rest` holds
// what followed the OK line). A `weak` reason yields to an earlier one.
struct Attempt {
  enum Kind { kRetry, kFailed, kThrough } kind = kRetry;
  std::string step, error;
  std::string rest;
  bool weak = false;
};

Attempt Retry(std::string step, std::string error) {
  return {Attempt::kRetry, std::move(step), std::move(error), {}};
}
Attempt Failed(std::string step, std::string error) {
  return {Attempt::kFailed, std::move(step), std::move(error), {}};
}

// Connects to the VM's vsock socket and asks for `port`.
Attempt Handshake(int fd, const std::string& uds, uint32_t port, Clock::time_point deadline) {
  // A jailed VMM owns the directory: its socket is pinned without following
  // a symlink and connected to through the descriptor.
  // (O_PATH|O_NOFOLLOW opens a symlink itself rather than failing.)
  int pinned = ::open(uds.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (pinned >= 0 && (::fstat(pinned, &st) != 0 || !S_ISSOCK(st.st_mode))) {
    ::close(pinned);
    return Failed(
        "socket",
        uds + (S_ISLNK(st.st_mode) ? " is a symbolic link" : " is not a socket") + "; refusing it");
  }
  std::string path = pinned >= 0 ? "/proc/self/fd/" + std::to_string(pinned) : uds;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  if (pinned >= 0) ::close(pinned);
  if (rc != 0) {
    if (err == ENOENT)
      return Failed("socket", "no vsock socket at " + uds + " (is the VM running?)");
    return Retry("socket", "connect " + uds + ": " + std::strerror(err));
  }
  std::string hello = "CONNECT " + std::to_string(port) + "\n";  // one write, as Firecracker asks
  if (::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(hello.size())) {
    return Retry("connect", "write CONNECT: " + std::string(std::strerror(errno)));
  }
  std::string line;
  auto attempt_deadline = std::min(deadline, Clock::now() + milliseconds(1000));
  int got = ReadUntil(fd, line, attempt_deadline,
                      [](const std::string& s) { return s.find('\n') != std::string::npos; });
  if (got == 0 && line.empty()) {
    return Retry("connect", "CONNECT " + std::to_string(port) +
                                " refused: nothing listens on that port in the guest (yet)");
  }
  if (got < 0 && line.empty()) {
    Attempt a =
        Retry("ok", "no OK to CONNECT " + std::to_string(port) + " (" + std::strerror(errno) + ")");
    // Cut short by the overall deadline, not by its own limit: the previous
    // attempt's reason says more than this one.
    a.weak = attempt_deadline >= deadline;
    return a;
  }
  std::string first = line.substr(0, line.find('\n'));
  if (!ConnectAccepted(first)) {
    return Failed("ok", "bad reply to CONNECT " + std::to_string(port) + ": '" + first + "'");
  }
  return {Attempt::kThrough, "", "", line.substr(line.find('\n') + 1)};
}

// GET /healthz to the guest agent over the connected stream; 200 is healthy.
Attempt AskHealth(int fd, std::string rest, Clock::time_point deadline, std::string* guest) {
  const std::string request = "GET /healthz HTTP/1.0\r\nHost: guest\r\n\r\n";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  if (ReadUntil(fd, rest, deadline, [](const std::string&) { return false; }) < 0) {
    return Failed("timeout", "the guest agent did not answer GET /healthz in time");
  }
  GuestReply reply = ParseGuestReply(rest);
  if (reply.status == 0) {
    return Failed("reply", "not an HTTP answer from the guest agent: '" +
                               rest.substr(0, rest.find('\r')) + "'");
  }
  if (reply.status != 200) {
    return Failed("reply",
                  "the guest agent answered " + std::to_string(reply.status) + ": " + reply.body);
  }
  *guest = reply.body;
  return {Attempt::kThrough, "", "", ""};
}

}  // namespace

bool ConnectAccepted(std::string_view first_line) {
  return first_line.substr(0, 3) == "OK ";
}

GuestReply ParseGuestReply(const std::string& reply) {
  GuestReply r;
  // "HTTP/1.x NNN ...": three digits, nothing else is a status.
  if (reply.size() < 12 || reply.rfind("HTTP/1.", 0) != 0 || reply[8] != ' ') return r;
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (reply[i] < '0' || reply[i] > '9') return r;
    status = status * 10 + (reply[i] - '0');
  }
  if (status < 100) return r;
  r.status = status;
  auto body_at = reply.find("\r\n\r\n");
  r.body = body_at == std::string::npos ? "" : reply.substr(body_at + 4);
  return r;
}

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
  while (Clock::now() < deadline) {
    ++r.attempts;
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    Attempt a = Handshake(fd.get(), uds, port, deadline);
    if (a.kind == Attempt::kThrough && http) a = AskHealth(fd.get(), a.rest, deadline, &r.guest);
    if (a.kind == Attempt::kThrough) return done(true, "", "");
    if (a.kind == Attempt::kFailed) return done(false, a.step, a.error);
    if (!a.weak || last_step.empty()) {
      last_step = a.step;
      last_error = a.error;
    }
    // Not ready (yet): back off, within the deadline.
    std::this_thread::sleep_for(std::min(backoff, milliseconds(Left(deadline))));
    backoff = std::min(backoff * 2, milliseconds(400));
  }
  return done(false, last_step.empty() ? "timeout" : last_step,
              "gave up after " + std::to_string(timeout.count()) + " ms and " +
                  std::to_string(r.attempts) +
                  " attempts: " + (last_error.empty() ? "no answer" : last_error));
}

}  // namespace vsockhealth
