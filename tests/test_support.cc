#include "tests/test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

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
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
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
