#include "tests/test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/process_runner.h"
#include "core/unix_http_client.h"

extern char** environ;

namespace banger::testing {
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

CommandResult RunCommand(const std::vector<std::string>& argv) {
  CommandResult r;
  auto outcome = RunProcess(argv, std::chrono::seconds(60),
                            [&](std::string_view chunk) { r.output.append(chunk); });
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

AgentProcess::AgentProcess(const std::vector<std::string>& args, const std::string& log_path)
    : log_path_(log_path) {
  std::vector<std::string> argv{BANGERD_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 2, 1);
  if (::posix_spawn(&pid_, cargv[0], &actions, nullptr, cargv.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&actions);
}

AgentProcess::~AgentProcess() {
  if (pid_ > 0 && exit_code_ < 0) Stop(SIGKILL);
}

bool AgentProcess::WaitReady(const std::string& socket) {
  return WaitFor([&] {
           int status;
           if (exit_code_ >= 0) return true;
           if (::waitpid(pid_, &status, WNOHANG) == pid_) {
             exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
             return true;
           }
           auto r = UnixHttpCall(socket, "GET", "/v1/info", "", std::chrono::seconds(1));
           return r.ok() && r.reply.status == 200;
         }) &&
         exit_code_ < 0;
}

int AgentProcess::Stop(int sig) {
  if (exit_code_ >= 0) return exit_code_;
  ::kill(pid_, sig);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

int AgentProcess::WaitExit(std::chrono::milliseconds timeout) {
  WaitFor(
      [&] {
        int status;
        if (exit_code_ >= 0) return true;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          return true;
        }
        return false;
      },
      timeout);
  return exit_code_;
}

std::string AgentProcess::log() const {
  return ReadFile(log_path_);
}

bool IsRoot() {
  return ::geteuid() == 0;
}

}  // namespace banger::testing
