#include "core/vmm/jail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace banger::core {
namespace {

namespace fs = std::filesystem;

bool Has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

const CgroupMount* MountWith(const std::vector<CgroupMount>& mounts, int version,
                             const std::string& controller) {
  for (const auto& m : mounts) {
    if (m.version == version && Has(m.controllers, controller)) return &m;
  }
  return nullptr;
}

std::string Errno(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

}  // namespace

JailPaths JailPathsFor(const std::string& chroot_base, const std::string& exec_file,
                       const std::string& id) {
  std::string exec_name = fs::path(exec_file).filename();
  JailPaths p;
  p.dir = chroot_base + "/" + exec_name + "/" + id;
  p.root = p.dir + "/root";
  p.pid_file = p.root + "/" + exec_name + ".pid";
  return p;
}

std::vector<CgroupMount> CgroupMounts() {
  std::vector<CgroupMount> out;
  std::ifstream in("/proc/mounts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string dev, dir, type, opts;
    s >> dev >> dir >> type >> opts;
    if (type != "cgroup" && type != "cgroup2") continue;
    CgroupMount m;
    m.dir = dir;
    m.version = type == "cgroup2" ? 2 : 1;
    std::stringstream words;
    if (m.version == 1) {
      std::replace(opts.begin(), opts.end(), ',', ' ');
      words.str(opts);
    } else {
      std::ifstream controllers(dir + "/cgroup.controllers");
      words << controllers.rdbuf();
    }
    for (std::string w; words >> w;) m.controllers.push_back(w);
    out.push_back(m);
  }
  return out;
}

Result<int> DetectCgroupVersion(const std::vector<CgroupMount>& mounts) {
  const std::vector<std::string> v2{"cpu", "memory", "pids"};
  if (std::all_of(v2.begin(), v2.end(), [&](auto& c) { return MountWith(mounts, 2, c); })) return 2;
  std::string missing;
  for (const char* c : {"cpu", "cpuacct", "memory", "pids"}) {
    if (!MountWith(mounts, 1, c)) missing += std::string(missing.empty() ? "" : ", ") + c;
  }
  if (missing.empty()) return 1;
  return Status::Unavailable(
      "no cgroup hierarchy for jailed VMMs: the unified (v2) one lacks cpu, memory or pids, and "
      "v1 has no " +
      missing + " controller; mount them, or set [core] jailer_binary = \"\"");
}

CgroupDirs CgroupDirsFor(const std::vector<CgroupMount>& mounts, int version,
                         const std::string& relative) {
  CgroupDirs d;
  const CgroupMount* cpu = MountWith(mounts, version, version == 2 ? "cpu" : "cpuacct");
  const CgroupMount* memory = MountWith(mounts, version, "memory");
  if (cpu) d.cpu = cpu->dir + "/" + relative;
  if (memory) d.memory = memory->dir + "/" + relative;
  return d;
}

std::vector<std::string> CgroupLimits(int version, uint32_t vcpus, uint64_t memory_bytes,
                                      uint32_t max_tasks) {
  const uint64_t period = 100000;  // µs
  const std::string quota = std::to_string(period * std::max<uint32_t>(vcpus, 1));
  if (version == 2) {
    return {"cpu.max=" + quota + " " + std::to_string(period),
            "memory.max=" + std::to_string(memory_bytes), "pids.max=" + std::to_string(max_tasks)};
  }
  // cpuacct.usage=0 (a reset) puts the VMM in a cpuacct cgroup of its own,
  // where its CPU time is read.
  return {"cpu.cfs_period_us=" + std::to_string(period), "cpu.cfs_quota_us=" + quota,
          "cpuacct.usage=0", "memory.limit_in_bytes=" + std::to_string(memory_bytes),
          "pids.max=" + std::to_string(max_tasks)};
}

Status BuildJailRoot(const JailPaths& jail,
                     const std::vector<std::pair<std::string, std::string>>& files, uid_t uid,
                     gid_t gid) {
  std::error_code ec;
  fs::remove_all(jail.dir, ec);  // a leftover of a start that did not finish
  if (ec) return Status::Error("cannot remove the old jail " + jail.dir + ": " + ec.message());
  // Each level root's and 0700: only root, and the VMM from inside, reach it.
  fs::path base = fs::path(jail.dir).parent_path();
  fs::create_directories(base, ec);
  if (ec) return Status::Error("cannot create " + base.string() + ": " + ec.message());
  for (const std::string& d : {jail.dir, jail.root}) {
    if (::mkdir(d.c_str(), 0700) != 0) return Status::Error(Errno("cannot create " + d));
  }
  for (const auto& [host, name] : files) {
    std::string link = jail.root + "/" + name;
    if (::link(host.c_str(), link.c_str()) != 0) {
      if (errno == EXDEV) {
        return Status::Invalid("cannot hard-link " + host + " into the jail " + jail.root +
                               ": [core] chroot_base is on another file system than the state "
                               "dir; put it on the same one");
      }
      return Status::Error(Errno("cannot hard-link " + host + " to " + link));
    }
    if (::lchown(link.c_str(), uid, gid) != 0) return Status::Error(Errno("chown " + link));
  }
  return Status::Ok();
}

Status RemoveJail(const JailPaths& jail, const std::string& cgroup_relative) {
  std::error_code ec;
  fs::remove_all(jail.dir, ec);
  if (ec) return Status::Error("cannot remove the jail " + jail.dir + ": " + ec.message());
  if (cgroup_relative.empty()) return Status::Ok();
  std::string busy;
  for (const auto& m : CgroupMounts()) {
    std::string dir = m.dir + "/" + cgroup_relative;
    // An exited VMM's cgroup can stay busy until its parent has reaped it.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (::rmdir(dir.c_str()) != 0 && errno == EBUSY &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (::access(dir.c_str(), F_OK) == 0) busy += (busy.empty() ? "" : ", ") + dir;
  }
  if (!busy.empty()) {
    return Status::Error("cgroup " + busy + " still has processes in it; not removed");
  }
  return Status::Ok();
}

}  // namespace banger::core
