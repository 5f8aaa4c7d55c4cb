#include "tests/test_support.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/base/process_runner.h"
#include "core/base/spawn.h"
#include "core/base/unix_http_client.h"

namespace banger::core::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  char tmpl[] = "/tmp/banger-test-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
  ::chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TestPluginPath(const std::string& name) {
  return std::string(BANGER_TEST_PLUGIN_DIR) + "/" + name + ".so";
}

void CopyPlugins(const std::string& dir, const std::vector<std::string>& names) {
  fs::create_directories(dir);
  for (const auto& n : names) {
    auto dest = dir + "/" + n + ".so";
    fs::copy_file(TestPluginPath(n), dest, fs::copy_options::overwrite_existing);
    fs::permissions(dest, fs::perms(0755));
  }
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_path) {
  CommandResult r;
  auto outcome = RunProcess(
      argv, std::chrono::seconds(60), [&](std::string_view chunk) { r.output.append(chunk); },
      stdin_path);
  if (!outcome) {
    r.output = outcome.status().message();
    return r;
  }
  r.exit_code = outcome->term_signal ? 128 + outcome->term_signal : outcome->exit_code;
  return r;
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

std::vector<std::string> AgentProcess::Argv(const std::vector<std::string>& args) {
  std::vector<std::string> argv{BANGERD_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

AgentProcess::AgentProcess(const std::vector<std::string>& args, const std::string& log_path)
    : log_path_(log_path), process_(Argv(args), log_path) {}

bool AgentProcess::WaitReady(const std::string& socket) {
  bool ready = WaitFor([&] {
    if (process_.WaitExit(std::chrono::milliseconds(0)) >= 0) return true;  // it died
    auto r = UnixHttpCall(socket, "GET", "/v1/info", "", std::chrono::seconds(1));
    return r.ok() && r.reply.status == 200;
  });
  return ready && process_.WaitExit(std::chrono::milliseconds(0)) < 0;
}

int AgentProcess::Stop(int sig) {
  process_.Kill(sig);
  return process_.WaitExit(std::chrono::seconds(60));
}

std::string AgentProcess::log() const {
  return ReadFile(log_path_);
}

int ConnectUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;  // what the caller reports, not close's
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

std::string HttpRequestBytes(const std::string& method, const std::string& target,
                             const std::string& body) {
  std::string head = method + " " + target + " HTTP/1.1\r\nHost: banger\r\nConnection: close\r\n";
  if (!body.empty()) {
    head +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return head + "\r\n" + body;
}

namespace {

// Writes all of `size` bytes; false when the reader is gone.
bool WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Exactly `size` bytes from `fd`; false at an early end.
bool ReadExactly(int fd, void* data, size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// True once `reply` holds a head with a Content-Length and that much body.
// No allocation: called in a forked child.
bool AnswerComplete(const char* reply, size_t size) {
  const char* end = static_cast<const char*>(memmem(reply, size, "\r\n\r\n", 4));
  if (end == nullptr) return false;
  static const char kLength[] = "\r\nContent-Length: ";
  const char* at = static_cast<const char*>(
      memmem(reply, static_cast<size_t>(end - reply), kLength, sizeof kLength - 1));
  if (at == nullptr) return false;
  size_t length = 0;
  for (at += sizeof kLength - 1; *at >= '0' && *at <= '9'; ++at) {
    length = length * 10 + static_cast<size_t>(*at - '0');
  }
  return size >= static_cast<size_t>(end + 4 - reply) + length;
}

// The forked client: ExchangeAsUser's steps, each answer reported on `out`
// as its connect errno, length and bytes.
[[noreturn]] void ExchangeChild(uid_t uid, gid_t gid, const std::string& socket,
                                const std::vector<ClientStep>& steps, int out) {
  if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(90);
  int held[256];
  int holding = 0;
  static char reply[1 << 16];
  for (const ClientStep& step : steps) {
    if (step.kind == ClientStep::kHold) {
      if (holding < 256) held[holding++] = ConnectUnix(socket);
      continue;
    }
    if (step.kind == ClientStep::kCloseHeld) {
      while (holding > 0) ::close(held[--holding]);
      continue;
    }
    int32_t err = 0;
    uint32_t size = 0;
    int fd = ConnectUnix(socket);
    if (fd < 0) {
      err = errno;
    } else {
      timeval send_limit{10, 0};  // a server that stops reading does not hold the test
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_limit, sizeof send_limit);
      const std::string& bytes = step.request;
      for (size_t sent = 0; sent < bytes.size();) {
        ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;  // the server may answer and close before reading it all
        sent += static_cast<size_t>(n);
      }
    }
    if (fd >= 0) {
      timeval tv{10, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      for (ssize_t n;
           size < sizeof reply && (n = ::recv(fd, reply + size, sizeof reply - size, 0)) > 0;) {
        size += static_cast<uint32_t>(n);
        if (AnswerComplete(reply, size)) break;  // as a keep-alive client would
      }
      ::close(fd);
    }
    if (!WriteAll(out, &err, sizeof err) || !WriteAll(out, &size, sizeof size) ||
        !WriteAll(out, reply, size)) {
      ::_exit(91);
    }
  }
  ::_exit(0);
}

}  // namespace

ClientStep Hold() {
  return {ClientStep::kHold, ""};
}
ClientStep CloseHeld() {
  return {ClientStep::kCloseHeld, ""};
}
ClientStep Request(std::string bytes) {
  return {ClientStep::kRequest, std::move(bytes)};
}

std::vector<ExchangeAs> ExchangeAsUser(uid_t uid, gid_t gid, const std::string& socket,
                                       const std::vector<ClientStep>& steps) {
  std::vector<ExchangeAs> result;
  for (const auto& step : steps) {
    if (step.kind == ClientStep::kRequest) result.emplace_back();
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return result;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    ExchangeChild(uid, gid, socket, steps, pipe_fds[1]);
  }
  ::close(pipe_fds[1]);
  // Read as the child goes (the answers may not fit in the pipe), then wait.
  for (auto& exchange : result) {
    int32_t err = 0;
    uint32_t size = 0;
    if (!ReadExactly(pipe_fds[0], &err, sizeof err) ||
        !ReadExactly(pipe_fds[0], &size, sizeof size)) {
      break;
    }
    std::string reply(size, '\0');
    if (!ReadExactly(pipe_fds[0], reply.data(), size)) break;
    exchange.connect_errno = err;
    exchange.reply = std::move(reply);
  }
  ::close(pipe_fds[0]);
  if (pid > 0) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  return result;
}

int ReplyStatus(const std::string& reply) {
  if (reply.rfind("HTTP/1.", 0) != 0 || reply.size() < 12) return 0;
  return std::atoi(reply.substr(9, 3).c_str());
}

std::string ReplyBody(const std::string& reply) {
  auto head_end = reply.find("\r\n\r\n");
  return head_end == std::string::npos ? "" : reply.substr(head_end + 4);
}

bool IsRoot() {
  return ::geteuid() == 0;
}

}  // namespace banger::core::testing

namespace banger::core::testing {

NetNamespace::NetNamespace() {
  static int counter = 0;
  name_ = "banger-t" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  ok_ = RunCommand({"ip", "netns", "add", name_}).exit_code == 0;
  if (ok_) RunCommand({"ip", "netns", "exec", name_, "ip", "link", "set", "lo", "up"});
}

NetNamespace::~NetNamespace() {
  if (ok_) RunCommand({"ip", "netns", "del", name_});
}

std::vector<std::string> NetNamespace::Wrap(const std::vector<std::string>& argv) const {
  std::vector<std::string> out{"ip", "netns", "exec", name_};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

CommandResult NetNamespace::Run(const std::vector<std::string>& argv) const {
  return RunCommand(Wrap(argv));
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv,
                                     const std::string& log_path) {
  SpawnOptions spawn;
  spawn.output_path = log_path;
  spawn.output_flags = O_WRONLY | O_CREAT | O_TRUNC;
  spawn.output_mode = 0644;
  spawn.search_path = true;
  auto spawned = Spawn(argv, spawn);
  pid_ = spawned ? *spawned : -1;
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0 && exit_code_ < 0) {
    ::kill(pid_, SIGKILL);
    WaitExit(std::chrono::seconds(10));
  }
}

int BackgroundProcess::WaitExit(std::chrono::milliseconds timeout) {
  WaitFor(
      [&] {
        if (exit_code_ >= 0) return true;
        int status;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          return true;
        }
        return false;
      },
      timeout);
  return exit_code_;
}

void BackgroundProcess::Kill(int sig) {
  if (pid_ > 0 && exit_code_ < 0) ::kill(pid_, sig);
}

}  // namespace banger::core::testing
