#include "core/plugin_host/plugin_file.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace banger::core {

std::string ProcFdPath(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

Result<UniqueFd> OpenPluginFile(const std::string& path, const PluginFilePolicy& policy) {
  int flags = O_RDONLY | O_CLOEXEC | (policy.allow_symlinks ? 0 : O_NOFOLLOW);
  UniqueFd fd(::open(path.c_str(), flags));
  if (!fd.valid()) {
    if (errno == ELOOP && !policy.allow_symlinks) {
      return Status::Error(
          "is a symbolic link; refusing it (set core.allow_plugin_symlinks = true to allow)");
    }
    return Status::Error(std::string("cannot open: ") + std::strerror(errno));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    return Status::Error(std::string("cannot stat: ") + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return Status::Error("not a regular file");
  if (st.st_uid != 0 && st.st_uid != policy.agent_uid) {
    return Status::Error("owned by uid " + std::to_string(st.st_uid) +
                         "; a capability must be owned by root or the agent's uid (" +
                         std::to_string(policy.agent_uid) + ")");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::Error(std::string("writable by group or others (mode ") + mode +
                         "); run chmod go-w on it");
  }
  unsigned char magic[4] = {0, 0, 0, 0};
  if (::pread(fd.get(), magic, sizeof magic, 0) != 4 || std::memcmp(magic,
                                                                    "\x7f"
                                                                    "ELF",
                                                                    4) != 0) {
    return Status::Error("not an ELF shared object");
  }
  return fd;
}

}  // namespace banger::core
