#include "core/store/state_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace banger::core {

Result<std::unique_ptr<StateDirLock>> StateDirLock::Acquire(const std::string& state_dir) {
  std::string path = state_dir + "/bangerd.lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid())
    return Status::Error("cannot open lock file " + path + ": " + std::strerror(errno));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      return Status::Error("cannot lock " + path + ": " + std::strerror(errno));
    }
    char buf[32] = {0};
    ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return Status::Error("state dir " + state_dir + " is in use by another agent: lock file " +
                         path + " is held by pid " + (pid.empty() ? "(unknown)" : pid));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) < 0) {
    return Status::Error("cannot write lock file " + path + ": " + std::strerror(errno));
  }
  return std::unique_ptr<StateDirLock>(new StateDirLock(path, std::move(fd)));
}

}  // namespace banger::core
