// A VM's directory under the state dir, <state_dir>/vms/<id>/, and what it
// holds: the system disk (a copy-on-write overlay of the rootfs image: a
// reflink where the file system can, else a sparse copy), the work disk (a
// sparse file), and the VMM's API socket, vsock socket, metrics file and log.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/status.h"

namespace banger::core {

struct VmPaths {
  std::string dir;
  std::string api_socket;
  std::string vsock_path;
  std::string metrics_path;
  std::string log_path;
  std::string overlay_path;
  std::string work_disk_path;
  std::string kernel_path;  // the kernel image, copied at create (the VMM reads only this)
  // The VM's record as at create (name and spec), written with its files:
  // what `bangerd --recover-store` rebuilds a VM from when the store lost it.
  std::string manifest_path;
};

VmPaths VmPathsFor(const std::string& state_dir, const std::string& vm_id);

// The images a VM is made from, already opened (as the caller: see
// VmLifecycle::Create) and checked to be regular files.
struct VmImages {
  int kernel = -1;  // -1: no copy (the VMM is given the spec's path)
  int rootfs = -1;
  std::string rootfs_path;  // for messages
};

// Creates the directory (0700), the overlay of the rootfs, a copy of the
// kernel, a sparse work disk of `work_disk_bytes` (none when 0) and the
// manifest (`manifest`: the encoded record; none when empty), each synced.
// Error (nothing left behind) when an image cannot be read, the disk is
// full, or a socket path would be too long for a UNIX socket.
Status CreateVmFiles(const VmPaths& paths, const VmImages& images, uint64_t work_disk_bytes,
                     std::string_view manifest = {});
// The same from a rootfs path the agent opens itself (tests, tools).
Status CreateVmFiles(const VmPaths& paths, const std::string& rootfs, uint64_t work_disk_bytes,
                     std::string_view manifest = {});

// Invalid when a VM's socket paths would not fit a UNIX socket address.
Status CheckSocketPaths(const VmPaths& paths);

// Writes the manifest of a VM whose directory has none (made by an agent
// before manifests existed); synced.
Status WriteVmManifest(const VmPaths& paths, std::string_view manifest);

// The manifest's bytes; NotFound when the directory has none.
Result<std::string> ReadVmManifest(const VmPaths& paths);

// Removes the directory and everything in it; absent is OK.
Status RemoveVmFiles(const VmPaths& paths);

// Copies `src` to a new file `dst`: a reflink (FICLONE) when possible,
// otherwise data extents only (holes stay holes). Exposed for tests.
Status CopyOnWriteFile(const std::string& src, const std::string& dst);
// The same from an open descriptor (`name` for messages).
Status CopyOnWriteFd(int in, const std::string& name, const std::string& dst);

}  // namespace banger::core
