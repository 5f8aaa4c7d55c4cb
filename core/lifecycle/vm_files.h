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
  // The VM's record as at create (name and spec), written with its files:
  // what `bangerd --recover-store` rebuilds a VM from when the store lost it.
  std::string manifest_path;
};

VmPaths VmPathsFor(const std::string& state_dir, const std::string& vm_id);

// Creates the directory (0700), the overlay of `rootfs`, a sparse work disk
// of `work_disk_bytes` (none when 0) and the manifest (`manifest`: the
// encoded record; none when empty), each synced. Error (nothing left behind)
// when the rootfs cannot be read, the disk is full, or a socket path would
// be too long for a UNIX socket.
Status CreateVmFiles(const VmPaths& paths, const std::string& rootfs, uint64_t work_disk_bytes,
                     std::string_view manifest = {});

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

}  // namespace banger::core
