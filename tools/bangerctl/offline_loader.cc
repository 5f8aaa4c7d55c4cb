#include "tools/bangerctl/offline_loader.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "core/agent/agent_config.h"
#include "core/plugin_host/capability_report.h"
#include "core/plugin_host/plugin_registry.h"

namespace bangerctl {
namespace {

constexpr int kMaxAttempts = 16;

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Child: load and report. Progress lines "L <path>" precede each file, so
// the parent knows which file was being loaded if the child dies.
[[noreturn]] void RunChild(int out, const banger::core::AgentConfig& config,
                           const std::map<std::string, std::string>& crashed) {
  banger::core::PluginFilePolicy policy{config.allow_plugin_symlinks, ::geteuid()};
  auto registry = banger::core::PluginRegistry::Discover(
      config, policy, [&](const std::string& path) -> std::optional<std::string> {
        if (auto it = crashed.find(path); it != crashed.end()) return it->second;
        WriteAll(out, "L " + path + "\n");
        return std::nullopt;
      });
  WriteAll(out, "R\n" + banger::core::CapabilitiesReport(*registry, nullptr, /*offline=*/true));
  ::_exit(0);
}

}  // namespace

banger::core::Result<std::string> LoadOfflineReport(const std::string& config_path,
                                                    const std::vector<std::string>& plugin_dirs) {
  auto loaded = banger::core::LoadAgentConfigFile(config_path);
  if (!loaded) return loaded.status();
  banger::core::AgentConfig config = std::move(loaded.value());
  if (!plugin_dirs.empty()) config.plugin_dirs = plugin_dirs;
  for (auto& d : config.plugin_dirs) d = std::filesystem::absolute(d).lexically_normal().string();

  std::map<std::string, std::string> crashed;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    int fds[2];
    if (::pipe(fds) != 0)
      return banger::core::Status::Error("pipe: " + std::string(strerror(errno)));
    pid_t pid = ::fork();
    if (pid < 0) return banger::core::Status::Error("fork: " + std::string(strerror(errno)));
    if (pid == 0) {
      ::close(fds[0]);
      RunChild(fds[1], config, crashed);
    }
    ::close(fds[1]);
    std::string output;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) output.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      auto r = output.find("R\n");
      if (r == std::string::npos)
        return banger::core::Status::Error("offline loader sent no report");
      return output.substr(r + 2);
    }
    // Died: blame the file it announced last, and go again without it.
    auto last = output.rfind("L ");
    if (last == std::string::npos) {
      return banger::core::Status::Error("offline loader died before loading any capability");
    }
    auto end = output.find('\n', last);
    std::string path = output.substr(last + 2, end == std::string::npos ? end : end - last - 2);
    std::string how = WIFSIGNALED(status)
                          ? std::string("signal ") + std::to_string(WTERMSIG(status)) + " (" +
                                sigdescr_np(WTERMSIG(status)) + ")"
                          : "exit status " + std::to_string(WEXITSTATUS(status));
    crashed[path] =
        "crashed the loader while loading (" + how + "); bangerd would die the same way at start";
  }
  return banger::core::Status::Error("offline loader: too many crashing capabilities");
}

}  // namespace bangerctl
