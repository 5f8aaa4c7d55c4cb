#include "core/vmm/process_identity.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "core/base/unique_fd.h"

namespace banger::core {
namespace {

std::string ReadSmallFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return "";
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// Fields of /proc/PID/stat after the command name, which may itself hold
// spaces and parentheses: everything after the last ')'.
struct StatFields {
  char state = '?';
  uint64_t start_time = 0;
};

std::optional<StatFields> ReadStat(pid_t pid) {
  std::string stat = ReadSmallFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return std::nullopt;
  StatFields f;
  f.state = stat[close + 2];
  // Field 3 is the state; start time is field 22, i.e. the 20th after it.
  const char* p = stat.c_str() + close + 2;
  for (int field = 3; field < 22; ++field) {
    p = std::strchr(p, ' ');
    if (p == nullptr) return std::nullopt;
    ++p;
  }
  f.start_time = std::strtoull(p, nullptr, 10);
  return f;
}

}  // namespace

std::optional<uint64_t> ProcessStartTime(pid_t pid) {
  auto f = ReadStat(pid);
  if (!f) return std::nullopt;
  return f->start_time;
}

bool ProcessAlive(const ProcessIdentity& p) {
  if (p.pid <= 0) return false;
  auto f = ReadStat(p.pid);
  return f && f->start_time == p.start_time && f->state != 'Z' && f->state != 'X';
}

namespace {

bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// The host path of a jailed VMM's API socket: its jail root (named by
// chroot_base, the exec file and --id, and checked to be the root the
// process runs in) joined with the path it was given. Empty when it is not
// a jail under chroot_base.
std::string JailedSocket(long pid, const std::vector<std::string>& args, const std::string& socket,
                         const std::string& chroot_base) {
  std::string id;
  for (size_t i = 0; i < args.size() && id.empty(); ++i) {
    if (args[i] == "--id" && i + 1 < args.size()) id = args[i + 1];
    if (args[i].rfind("--id=", 0) == 0) id = args[i].substr(5);
  }
  if (id.empty() || id.find('/') != std::string::npos || args.empty()) return "";
  std::string exec_name = args[0].substr(args[0].rfind('/') + 1);
  std::string root = chroot_base + "/" + exec_name + "/" + id + "/root";
  struct stat theirs, jail;
  if (::stat(("/proc/" + std::to_string(pid) + "/root").c_str(), &theirs) != 0 ||
      ::stat(root.c_str(), &jail) != 0 || !SameFile(theirs, jail)) {
    return "";
  }
  return root + (socket[0] == '/' ? "" : "/") + socket;
}

}  // namespace

std::map<std::string, std::vector<ProcessIdentity>> ScanApiSocketProcesses(
    const std::string& chroot_base) {
  std::map<std::string, std::vector<ProcessIdentity>> found;
  struct stat own_root;
  bool have_root = ::stat("/", &own_root) == 0;
  std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
  if (!proc) return found;
  while (dirent* e = ::readdir(proc.get())) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::string cmdline = ReadSmallFile("/proc/" + std::string(e->d_name) + "/cmdline");
    if (cmdline.find("--api-sock") == std::string::npos) continue;
    std::vector<std::string> args;
    for (size_t i = 0; i < cmdline.size();) {
      size_t z = cmdline.find('\0', i);
      if (z == std::string::npos) z = cmdline.size();
      args.push_back(cmdline.substr(i, z - i));
      i = z + 1;
    }
    std::string socket;
    for (size_t i = 0; i < args.size() && socket.empty(); ++i) {
      if (args[i] == "--api-sock" && i + 1 < args.size()) socket = args[i + 1];
      if (args[i].rfind("--api-sock=", 0) == 0) socket = args[i].substr(11);
    }
    if (socket.empty()) continue;
    struct stat their_root;
    if (have_root &&
        ::stat(("/proc/" + std::string(e->d_name) + "/root").c_str(), &their_root) == 0 &&
        !SameFile(own_root, their_root)) {
      // In a chroot: its socket path means nothing here unless it is one of
      // our jails.
      if (chroot_base.empty()) continue;
      socket = JailedSocket(pid, args, socket, chroot_base);
      if (socket.empty()) continue;
    }
    auto f = ReadStat(static_cast<pid_t>(pid));
    if (!f || f->state == 'Z' || f->state == 'X') continue;
    found[socket].push_back({static_cast<pid_t>(pid), f->start_time});
  }
  return found;
}

Result<ProcessIdentity> FindProcessByApiSocket(const std::string& api_socket,
                                               uint64_t recorded_start_time,
                                               const std::string& chroot_base) {
  auto all = ScanApiSocketProcesses(chroot_base);
  auto it = all.find(api_socket);
  if (it == all.end()) return Status::NotFound("no process has --api-sock " + api_socket);
  for (const auto& p : it->second) {
    if (p.start_time == recorded_start_time) return p;
  }
  const ProcessIdentity& other = it->second.front();
  return Status::Conflict("pid " + std::to_string(other.pid) + " has api socket " + api_socket +
                          " but started at " + std::to_string(other.start_time) +
                          ", not at the recorded " + std::to_string(recorded_start_time) +
                          ": not the VMM that was recorded; refusing it");
}

}  // namespace banger::core
