#include "core/base/open_as.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace banger::core {

Result<Credentials> CredentialsOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return Status::NotFound("no process " + std::to_string(pid));
  Credentials c;
  bool uid = false, gid = false;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line.substr(line.find(':') + 1));
    if (line.rfind("Uid:", 0) == 0) {
      long real = 0, effective = 0;
      fields >> real >> effective;
      c.uid = static_cast<uid_t>(effective);
      uid = true;
    } else if (line.rfind("Gid:", 0) == 0) {
      long real = 0, effective = 0;
      fields >> real >> effective;
      c.gid = static_cast<gid_t>(effective);
      gid = true;
    } else if (line.rfind("Groups:", 0) == 0) {
      for (long g; fields >> g;) c.groups.push_back(static_cast<gid_t>(g));
    }
  }
  if (!uid || !gid)
    return Status::Error("cannot read the credentials of process " + std::to_string(pid));
  return c;
}

namespace {

// EACCES/EPERM: the caller may not; anything else: the path is wrong.
Status FailedOpen(const std::string& path, int err, const std::string& as) {
  std::string m = path + " cannot be read: " + std::strerror(err) + as;
  return err == EACCES || err == EPERM ? Status::Denied(m) : Status::Invalid(m);
}

}  // namespace

Result<UniqueFd> OpenAs(const std::string& path, int flags, const Credentials& who) {
  flags |= O_CLOEXEC;
  if (who.uid == ::geteuid() && who.gid == ::getegid()) {
    UniqueFd fd(::open(path.c_str(), flags));
    if (!fd.valid()) return FailedOpen(path, errno, "");
    return fd;
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return Status::Error(std::string("socketpair: ") + std::strerror(errno));
  }
  UniqueFd mine(pair[0]), theirs(pair[1]);
  pid_t child = ::fork();
  if (child < 0) return Status::Error(std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    // Only async-signal-safe calls from here: the agent has threads.
    // Nothing of the agent's stays open here but the answering socket (as
    // 3): /proc/self/fd/N must not lead past the directories above a file.
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull < 0 || ::dup2(theirs.get(), 3) < 0) ::_exit(1);
    for (int std_fd = 0; std_fd < 3; ++std_fd) ::dup2(devnull, std_fd);
    ::close_range(4, ~0U, 0);
    const int answer = 3;
    int err = 0;
    if (::setgroups(who.groups.size(), who.groups.data()) != 0 || ::setgid(who.gid) != 0 ||
        ::setuid(who.uid) != 0) {
      err = errno ? errno : EPERM;
    }
    int fd = err ? -1 : ::open(path.c_str(), flags);
    if (fd < 0 && !err) err = errno;
    char byte = static_cast<char>(err);
    iovec iov{&byte, 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (fd >= 0) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* cm = CMSG_FIRSTHDR(&msg);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    }
    ssize_t sent = ::sendmsg(answer, &msg, MSG_NOSIGNAL);
    ::_exit(sent == 1 ? 0 : 1);
  }
  theirs.Reset();
  char byte = 0;
  iovec iov{&byte, 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t got;
  do {
    got = ::recvmsg(mine.get(), &msg, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (got != 1)
    return Status::Error("opening " + path + " as uid " + std::to_string(who.uid) +
                         ": the helper died");
  if (byte != 0) {
    return FailedOpen(path, static_cast<unsigned char>(byte),
                      " (as uid " + std::to_string(who.uid) + ", the caller)");
  }
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  if (cm == nullptr || cm->cmsg_type != SCM_RIGHTS) {
    return Status::Error("opening " + path + ": no descriptor came back");
  }
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  return UniqueFd(fd);
}

}  // namespace banger::core
