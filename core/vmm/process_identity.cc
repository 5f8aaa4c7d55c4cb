#include "core/vmm/process_identity.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "core/base/unique_fd.h"

namespace banger::core {
namespace {

// /proc, opened once: files under it are opened relative to it (no walk
// from the root for each of a scan's thousands of reads).
int ProcDir() {
  static const int fd = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return fd;
}

// Reads /proc/<rel> into buf (at most size - 1 bytes, NUL added); length, or
// -1 when it cannot be read.
ssize_t ReadProc(const char* rel, char* buf, size_t size) {
  UniqueFd fd(::openat(ProcDir(), rel, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return -1;
  size_t got = 0;
  while (got + 1 < size) {
    ssize_t n = ::read(fd.get(), buf + got, size - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  buf[got] = '\0';
  return static_cast<ssize_t>(got);
}

// Fields of /proc/PID/stat after the command name, which may itself hold
// spaces and parentheses: everything after the last ')'.
struct StatFields {
  char state = '?';
  uint64_t start_time = 0;
};

std::optional<StatFields> ReadStat(pid_t pid) {
  char rel[32], stat[1024];
  std::snprintf(rel, sizeof rel, "%d/stat", static_cast<int>(pid));
  ssize_t n = ReadProc(rel, stat, sizeof stat);
  if (n <= 0) return std::nullopt;
  const char* close = std::strrchr(stat, ')');
  if (close == nullptr || close + 2 >= stat + n) return std::nullopt;
  StatFields f;
  f.state = close[2];
  // Field 3 is the state; start time is field 22, i.e. the 20th after it.
  const char* p = close + 2;
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

namespace {

// The API socket process `pid` serves as a VMM (see ScanApiSocketProcesses),
// with its identity; nullopt for any other process.
std::optional<std::pair<std::string, ProcessIdentity>> ApiSocketOf(long pid,
                                                                   const struct stat* own_root,
                                                                   const std::string& chroot_base) {
  // A command line that matters is short: one read into this buffer; a
  // longer one is read whole.
  char buf[4096];
  char rel[32];
  std::snprintf(rel, sizeof rel, "%ld/cmdline", pid);
  ssize_t n = ReadProc(rel, buf, sizeof buf);
  if (n <= 0) return std::nullopt;
  std::string cmdline;
  if (static_cast<size_t>(n) + 1 == sizeof buf) {
    UniqueFd fd(::openat(ProcDir(), rel, O_RDONLY | O_CLOEXEC));
    for (ssize_t got; fd.valid() && (got = ::read(fd.get(), buf, sizeof buf)) > 0;) {
      cmdline.append(buf, static_cast<size_t>(got));
    }
  } else if (memmem(buf, static_cast<size_t>(n), "--api-sock", 10) != nullptr) {
    cmdline.assign(buf, static_cast<size_t>(n));
  }
  if (cmdline.find("--api-sock") == std::string::npos) return std::nullopt;
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
  if (socket.empty()) return std::nullopt;
  struct stat their_root;
  std::snprintf(rel, sizeof rel, "%ld/root", pid);
  if (own_root != nullptr && ::fstatat(ProcDir(), rel, &their_root, 0) == 0 &&
      !SameFile(*own_root, their_root)) {
    // In a chroot: its socket path means nothing here unless it is one of
    // our jails.
    if (chroot_base.empty()) return std::nullopt;
    socket = JailedSocket(pid, args, socket, chroot_base);
    if (socket.empty()) return std::nullopt;
  }
  auto f = ReadStat(static_cast<pid_t>(pid));
  if (!f || f->state == 'Z' || f->state == 'X') return std::nullopt;
  return std::make_pair(std::move(socket), ProcessIdentity{static_cast<pid_t>(pid), f->start_time});
}

}  // namespace

std::map<std::string, std::vector<ProcessIdentity>> ScanApiSocketProcesses(
    const std::string& chroot_base) {
  std::map<std::string, std::vector<ProcessIdentity>> found;
  struct stat own_root;
  bool have_root = ::stat("/", &own_root) == 0;
  std::vector<long> pids;
  {
    std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
    if (!proc) return found;
    while (dirent* e = ::readdir(proc.get())) {
      char* end = nullptr;
      long pid = std::strtol(e->d_name, &end, 10);
      if (pid > 0 && *end == '\0') pids.push_back(pid);
    }
  }
  // Reading a process's command line is the kernel reading its memory: on a
  // host of thousands of processes the scan is tens of ms on one core, so a
  // large one is split in two.
  using Hit = std::pair<std::string, ProcessIdentity>;
  auto scan = [&](size_t from, size_t to, std::vector<Hit>& hits) {
    for (size_t i = from; i < to; ++i) {
      if (auto hit = ApiSocketOf(pids[i], have_root ? &own_root : nullptr, chroot_base)) {
        hits.push_back(std::move(*hit));
      }
    }
  };
  std::vector<Hit> first, second;
  size_t half = pids.size() > 512 ? pids.size() / 2 : pids.size();
  std::thread other;
  if (half < pids.size()) other = std::thread(scan, half, pids.size(), std::ref(second));
  scan(0, half, first);
  if (other.joinable()) other.join();
  for (auto* hits : {&first, &second}) {
    for (auto& [socket, p] : *hits) found[socket].push_back(p);
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
