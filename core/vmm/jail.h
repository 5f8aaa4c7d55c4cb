// Jailed VMMs: Firecracker's jailer (or jailer-sim in tests) starts the VMM
// in a chroot of its own under <chroot_base>/<exec file name>/<id>/root, as
// its own uid and gid, in cgroups sized for the VM, with resource limits
// (../docs/SECURITY.md, "Jailed VMMs"). This file knows the jailer's layout
// and command line, the cgroup hierarchies, and how to take a jail down;
// vmm_process.h launches through it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/base/status.h"

namespace banger::core {

// Where one VM's jail lives. `root` is "/" for the VMM.
struct JailPaths {
  std::string dir;       // <chroot_base>/<exec file name>/<id>
  std::string root;      // dir + "/root"
  std::string pid_file;  // root + "/<exec file name>.pid": the VMM's PID, as the jailer writes it
};
JailPaths JailPathsFor(const std::string& chroot_base, const std::string& exec_file,
                       const std::string& id);

// The cgroup hierarchies this host mounts (from /proc/mounts).
struct CgroupMount {
  std::string dir;
  int version = 1;
  std::vector<std::string> controllers;  // v1: from the mount options; v2: cgroup.controllers
};
std::vector<CgroupMount> CgroupMounts();

// 2 when the unified hierarchy offers cpu, memory and pids; else 1 when
// there are v1 hierarchies for cpu, cpuacct, memory and pids; else an error
// naming what is missing.
Result<int> DetectCgroupVersion(const std::vector<CgroupMount>& mounts);

// The directories of cgroup `relative` ("banger/<id>") where its CPU time
// and its memory use are read: v2, the unified one for both; v1, the
// cpuacct and memory hierarchies.
struct CgroupDirs {
  std::string cpu;
  std::string memory;
};
CgroupDirs CgroupDirsFor(const std::vector<CgroupMount>& mounts, int version,
                         const std::string& relative);

// The jailer's --cgroup values (FILE=VALUE, in the order they must be
// written) for a VM: CPU time for `vcpus` CPUs, memory for the guest plus the
// VMM's overhead, and a cap on tasks.
std::vector<std::string> CgroupLimits(int version, uint32_t vcpus, uint64_t memory_bytes,
                                      uint32_t max_tasks);

// A fresh jail root (a leftover one is removed first) holding hard links to
// `files` (host path, name in the root), each owned by uid:gid so the VMM can
// use it; the directories are root's, 0700. A hard link cannot cross file
// systems: then the error says to put chroot_base on the state dir's.
Status BuildJailRoot(const JailPaths& jail,
                     const std::vector<std::pair<std::string, std::string>>& files, uid_t uid,
                     gid_t gid);

// Removes the jail directory and the cgroup `relative` in every hierarchy
// (retrying briefly while the kernel still counts an exited VMM in it).
// Absent is OK.
Status RemoveJail(const JailPaths& jail, const std::string& cgroup_relative);

}  // namespace banger::core
