#include "core/lifecycle/vm_files.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/base/fault_point.h"
#include "core/base/unique_fd.h"

namespace banger::core {

VmPaths VmPathsFor(const std::string& state_dir, const std::string& vm_id) {
  VmPaths p;
  p.dir = state_dir + "/vms/" + vm_id;
  p.api_socket = p.dir + "/firecracker.sock";
  p.vsock_path = p.dir + "/vsock.sock";
  p.metrics_path = p.dir + "/metrics.json";
  p.log_path = p.dir + "/vmm.log";
  p.overlay_path = p.dir + "/system.img";
  p.work_disk_path = p.dir + "/work.img";
  p.manifest_path = p.dir + "/vm.record";
  p.kernel_path = p.dir + "/vmlinux";
  return p;
}

namespace {

// Copies bytes [from, to) of `in` to the same offsets of `out`: in the kernel
// (copy_file_range) where it can, else through a buffer (another file system
// than the target's: EXDEV, or one without the call). 0 or an errno.
int CopyRange(int in, int out, off_t from, off_t to) {
  bool in_kernel = true;
  std::vector<char> buf;
  while (from < to) {
    size_t want = static_cast<size_t>(to - from);
    if (in_kernel) {
      off_t src = from, dst = from;
      ssize_t n = ::copy_file_range(in, &src, out, &dst, want, 0);
      if (n > 0) {
        from += n;
        continue;
      }
      if (n == 0) return EIO;  // the source ended before its own size
      if (errno != EXDEV && errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL) {
        return errno;
      }
      in_kernel = false;
      buf.resize(1 << 20);
    }
    ssize_t n = ::pread(in, buf.data(), std::min(want, buf.size()), from);
    if (n <= 0) return n < 0 ? errno : EIO;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::pwrite(out, buf.data() + done, static_cast<size_t>(n - done), from + done);
      if (w < 0) return errno;
      done += w;
    }
    from += n;
  }
  return 0;
}

}  // namespace

Status CopyOnWriteFile(const std::string& src, const std::string& dst) {
  UniqueFd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!in.valid()) return Status::Invalid("cannot read " + src + ": " + std::strerror(errno));
  return CopyOnWriteFd(in.get(), src, dst);
}

Status CopyOnWriteFd(int in_fd, const std::string& src, const std::string& dst) {
  struct stat st;
  if (::fstat(in_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return Status::Invalid(src + " is not a regular file");
  }
  // Opened O_NONBLOCK (a FIFO must not block the open): regular files read
  // the same either way.
  UniqueFd out(::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out.valid()) return Status::Error("cannot create " + dst + ": " + std::strerror(errno));
  // A reflink shares every block until one side writes: instant, no space.
  if (::ioctl(out.get(), FICLONE, in_fd) == 0) return Status::Ok();
  // Otherwise copy the data extents only, so a sparse image stays sparse
  // (in the kernel, or through a buffer across file systems).
  off_t end = st.st_size;
  off_t pos = 0;
  while (pos < end) {
    off_t data = ::lseek(in_fd, pos, SEEK_DATA);
    if (data < 0) break;  // ENXIO: only a hole is left
    off_t hole = ::lseek(in_fd, data, SEEK_HOLE);
    if (hole < 0) hole = end;
    if (int err = CopyRange(in_fd, out.get(), data, hole); err != 0) {
      ::unlink(dst.c_str());
      // The source cut short under us (its owner truncated it) is the
      // caller's doing; anything else is this host's.
      struct stat now {};
      if (::fstat(in_fd, &now) == 0 && now.st_size != st.st_size) {
        return Status::Invalid(src + " changed while it was copied (" + std::to_string(st.st_size) +
                               " bytes, then " + std::to_string(now.st_size) + ")");
      }
      return Status::Error("copy " + src + " to " + dst + ": " + std::strerror(err));
    }
    pos = hole;
  }
  if (::ftruncate(out.get(), end) != 0) {
    int err = errno;
    ::unlink(dst.c_str());
    return Status::Error("size " + dst + ": " + std::strerror(err));
  }
  return Status::Ok();
}

namespace {

// Writes `bytes` to a new file at `path` (0600) and syncs it.
Status WriteNewFile(const std::string& path, std::string_view bytes) {
  UniqueFd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!f.valid()) return Status::Error("cannot create " + path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(f.get(), bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Status::Error("write " + path + ": " + std::strerror(errno));
    done += static_cast<size_t>(w);
  }
  if (::fsync(f.get()) != 0) return Status::Error("sync " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

Status CheckSocketPaths(const VmPaths& paths) {
  if (paths.api_socket.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Status::Invalid("the state dir's path is too long: a VM's API socket would be " +
                           paths.api_socket + " (" + std::to_string(paths.api_socket.size()) +
                           " bytes; UNIX sockets allow " +
                           std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + ")");
  }
  return Status::Ok();
}

Status WriteVmManifest(const VmPaths& paths, std::string_view manifest) {
  return WriteNewFile(paths.manifest_path, manifest);
}

Result<std::string> ReadVmManifest(const VmPaths& paths) {
  UniqueFd f(::open(paths.manifest_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!f.valid()) {
    if (errno == ENOENT) return Status::NotFound(paths.manifest_path + " does not exist");
    return Status::Error("cannot read " + paths.manifest_path + ": " + std::strerror(errno));
  }
  std::string bytes;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(f.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::Error("read " + paths.manifest_path + ": " + std::strerror(errno));
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
    if (bytes.size() > (1u << 20)) return Status::Invalid(paths.manifest_path + " is over 1 MiB");
  }
  return bytes;
}

Status CreateVmFiles(const VmPaths& paths, const std::string& rootfs, uint64_t work_disk_bytes,
                     std::string_view manifest) {
  if (Status s = CheckSocketPaths(paths); !s) return s;
  UniqueFd in(::open(rootfs.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!in.valid()) return Status::Invalid("cannot read " + rootfs + ": " + std::strerror(errno));
  return CreateVmFiles(paths, VmImages{-1, in.get(), rootfs}, work_disk_bytes, manifest);
}

Status CreateVmFiles(const VmPaths& paths, const VmImages& images, uint64_t work_disk_bytes,
                     std::string_view manifest) {
  if (Status s = CheckSocketPaths(paths); !s) return s;
  std::error_code ec;
  std::filesystem::create_directories(paths.dir, ec);
  if (ec) return Status::Error("cannot create " + paths.dir + ": " + ec.message());
  ::chmod(paths.dir.c_str(), 0700);
  BANGER_FAULT_POINT("lifecycle.create.dir_made");
  Status copied = CopyOnWriteFd(images.rootfs, images.rootfs_path, paths.overlay_path);
  if (!copied) {
    RemoveVmFiles(paths);
    return copied.Prefixed("system disk");
  }
  if (images.kernel >= 0) {
    if (Status k = CopyOnWriteFd(images.kernel, "the kernel", paths.kernel_path); !k) {
      RemoveVmFiles(paths);
      return k.Prefixed("kernel");
    }
  }
  if (work_disk_bytes > 0) {
    UniqueFd w(::open(paths.work_disk_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!w.valid() || ::ftruncate(w.get(), static_cast<off_t>(work_disk_bytes)) != 0) {
      int err = errno;
      RemoveVmFiles(paths);
      return Status::Error("work disk " + paths.work_disk_path + ": " + std::strerror(err));
    }
  }
  if (!manifest.empty()) {
    if (Status s = WriteNewFile(paths.manifest_path, manifest); !s) {
      RemoveVmFiles(paths);
      return s;
    }
  }
  BANGER_FAULT_POINT("lifecycle.create.files_made");
  return Status::Ok();
}

Status RemoveVmFiles(const VmPaths& paths) {
  std::error_code ec;
  std::filesystem::remove_all(paths.dir, ec);
  if (ec) return Status::Error("cannot remove " + paths.dir + ": " + ec.message());
  return Status::Ok();
}

}  // namespace banger::core
