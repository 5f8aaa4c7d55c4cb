// jailer-sim: a stand-in for Firecracker's jailer, for tests on machines
// without one. It takes the jailer's command line and does its steps in the
// order jailer.md gives them, for real: the chroot under
// <chroot_base>/<exec_file_name>/<id>/root with a copy of the exec file, the
// resource limits, the cgroups (v1 or v2, found through /proc/mounts), a new
// mount namespace and pivot_root, /dev/net/tun and /dev/kvm nodes, the
// ownership of the jail, the network namespace, --daemonize, --new-pid-ns
// (the child's PID in <exec_file_name>.pid), dropping to uid/gid, and the
// exec with --id=, --start-time-us= and --start-time-cpu-us=. Like the
// jailer, it needs root and an exec file that runs alone in an empty root
// (statically linked: fc-sim is built so).
//
//   jailer-sim --id ID --exec-file PATH --uid N --gid N [--cgroup-version 1|2]
//              [--cgroup FILE=VALUE]... [--parent-cgroup PATH]
//              [--chroot-base-dir DIR] [--netns PATH]
//              [--resource-limit fsize=N|no-file=N]... [--daemonize]
//              [--new-pid-ns] [-- ARGS FOR THE EXEC FILE...]
//
// Exits 1 with "jailer-sim: <what failed>" on stderr before the exec.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "jailer-sim: %s\n", what.c_str());
  std::exit(1);
}

[[noreturn]] void DieErrno(const std::string& what) {
  Die(what + ": " + std::strerror(errno));
}

struct Args {
  std::string id, exec_file, chroot_base = "/srv/jailer", netns, parent_cgroup;
  uid_t uid = 0;
  gid_t gid = 0;
  bool have_uid = false, have_gid = false;
  int cgroup_version = 1;
  std::vector<std::pair<std::string, std::string>> cgroups;  // file, value
  std::vector<std::pair<std::string, uint64_t>> limits;
  bool daemonize = false, new_pid_ns = false;
  std::vector<std::string> extra;
};

uint64_t Number(const std::string& flag, const std::string& v) {
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || v.size() > 19)
    Die(flag + " takes a number, not '" + v + "'");
  return std::stoull(v);
}

std::pair<std::string, std::string> KeyValue(const std::string& flag, const std::string& v) {
  auto eq = v.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
    Die(flag + " takes KEY=VALUE, not '" + v + "'");
  return {v.substr(0, eq), v.substr(eq + 1)};
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    if (f == "--") {
      for (++i; i < argc; ++i) a.extra.push_back(argv[i]);
      break;
    }
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(f + " needs a value");
      return argv[++i];
    };
    if (f == "--id") {
      a.id = value();
    } else if (f == "--exec-file") {
      a.exec_file = value();
    } else if (f == "--uid") {
      a.uid = static_cast<uid_t>(Number(f, value()));
      a.have_uid = true;
    } else if (f == "--gid") {
      a.gid = static_cast<gid_t>(Number(f, value()));
      a.have_gid = true;
    } else if (f == "--cgroup-version") {
      std::string v = value();
      if (v != "1" && v != "2") Die("--cgroup-version takes 1 or 2, not '" + v + "'");
      a.cgroup_version = v == "1" ? 1 : 2;
    } else if (f == "--cgroup") {
      a.cgroups.push_back(KeyValue(f, value()));
    } else if (f == "--parent-cgroup") {
      a.parent_cgroup = value();
    } else if (f == "--chroot-base-dir") {
      a.chroot_base = value();
    } else if (f == "--netns") {
      a.netns = value();
    } else if (f == "--resource-limit") {
      auto [k, v] = KeyValue(f, value());
      if (k != "fsize" && k != "no-file") Die("--resource-limit: unknown resource '" + k + "'");
      a.limits.push_back({k, Number(f, v)});
    } else if (f == "--daemonize") {
      a.daemonize = true;
    } else if (f == "--new-pid-ns") {
      a.new_pid_ns = true;
    } else {
      Die("unknown argument '" + f + "'");
    }
  }
  if (a.id.empty() || a.exec_file.empty() || !a.have_uid || !a.have_gid)
    Die("--id, --exec-file, --uid and --gid are required");
  return a;
}

// Step 1: every path and the id.
void Validate(Args& a) {
  if (a.id.size() > 64) Die("--id is longer than 64 characters");
  for (char c : a.id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-')
      Die("--id may hold only alphanumerics and hyphens: '" + a.id + "'");
  }
  struct stat st;
  if (::stat(a.exec_file.c_str(), &st) != 0) DieErrno("--exec-file " + a.exec_file);
  if (!S_ISREG(st.st_mode)) Die("--exec-file " + a.exec_file + " is not a regular file");
  if (a.chroot_base.empty() || a.chroot_base[0] != '/')
    Die("--chroot-base-dir must be an absolute path");
  if (!a.netns.empty() && ::access(a.netns.c_str(), R_OK) != 0) DieErrno("--netns " + a.netns);
  if (a.parent_cgroup.empty()) a.parent_cgroup = fs::path(a.exec_file).filename();
  if (a.parent_cgroup.find("..") != std::string::npos || a.parent_cgroup[0] == '/')
    Die("--parent-cgroup must be a relative path without '..'");
  for (const auto& [file, value] : a.cgroups) {
    if (file.find('/') != std::string::npos || file.find('.') == std::string::npos)
      Die("--cgroup file '" + file + "' is not <controller>.<file>");
  }
}

void WriteTo(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) DieErrno("open " + path);
  ssize_t n = ::write(fd, text.data(), text.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    errno = n < 0 ? err : EIO;
    DieErrno("write '" + text + "' to " + path);
  }
}

struct Mount {
  std::string dir, type;
  std::vector<std::string> options;
};

// Written apart from core/vmm/jail.cc on purpose: a stand-in that shared
// the agent's reading of /proc/mounts could not catch a mistake in it.
std::vector<Mount> CgroupMounts() {
  std::vector<Mount> out;
  std::ifstream in("/proc/mounts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string dev, dir, type, opts;
    s >> dev >> dir >> type >> opts;
    if (type != "cgroup" && type != "cgroup2") continue;
    Mount m{dir, type, {}};
    std::stringstream o(opts);
    for (std::string opt; std::getline(o, opt, ',');) m.options.push_back(opt);
    out.push_back(m);
  }
  return out;
}

void MakeDirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) Die("mkdir -p " + path + ": " + ec.message());
}

// Step: the cgroups. v1: per controller the mount holding it (as named in
// the file's prefix); v2: the unified hierarchy, with each controller turned
// on in cgroup.subtree_control from the root down to the parent.
void JoinCgroups(const Args& a) {
  auto mounts = CgroupMounts();
  const std::string pid = std::to_string(::getpid());
  if (a.cgroup_version == 1) {
    std::map<std::string, std::vector<std::pair<std::string, std::string>>> by_dir;
    for (const auto& [file, value] : a.cgroups) {
      std::string controller = file.substr(0, file.find('.'));
      const Mount* found = nullptr;
      for (const auto& m : mounts) {
        if (m.type != "cgroup") continue;
        for (const auto& o : m.options) {
          if (o == controller) found = &m;
        }
      }
      if (!found) Die("no cgroup v1 hierarchy has the '" + controller + "' controller");
      by_dir[found->dir + "/" + a.parent_cgroup + "/" + a.id].push_back({file, value});
    }
    for (const auto& [dir, files] : by_dir) {
      MakeDirs(dir);
      for (const auto& [file, value] : files) WriteTo(dir + "/" + file, value);
      WriteTo(dir + "/tasks", pid);
    }
    return;
  }
  const Mount* unified = nullptr;
  for (const auto& m : mounts) {
    if (m.type == "cgroup2") unified = &m;
  }
  if (!unified) Die("no cgroup v2 hierarchy is mounted");
  if (a.cgroups.empty()) {
    // No --cgroup: moved into the parent cgroup when it exists, else left.
    std::string parent = unified->dir + "/" + a.parent_cgroup;
    if (::access(parent.c_str(), F_OK) == 0) WriteTo(parent + "/cgroup.procs", pid);
    return;
  }
  std::string enable;
  for (const auto& [file, value] : a.cgroups) {
    std::string c = "+" + file.substr(0, file.find('.'));
    if (enable.find(c) == std::string::npos) enable += (enable.empty() ? "" : " ") + c;
  }
  std::string dir = unified->dir;
  std::stringstream parts(a.parent_cgroup);
  for (std::string part; std::getline(parts, part, '/');) {
    if (part.empty()) continue;
    WriteTo(dir + "/cgroup.subtree_control", enable);
    dir += "/" + part;
    MakeDirs(dir);
  }
  WriteTo(dir + "/cgroup.subtree_control", enable);
  dir += "/" + a.id;
  MakeDirs(dir);
  for (const auto& [file, value] : a.cgroups) WriteTo(dir + "/" + file, value);
  WriteTo(dir + "/cgroup.procs", pid);
}

void Pivot(const std::string& root) {
  if (::unshare(CLONE_NEWNS) != 0) DieErrno("unshare(CLONE_NEWNS)");
  if (::mount(nullptr, "/", nullptr, MS_PRIVATE | MS_REC, nullptr) != 0) DieErrno("make / private");
  if (::mount(root.c_str(), root.c_str(), nullptr, MS_BIND, nullptr) != 0)
    DieErrno("bind mount " + root);
  std::string old = root + "/old_root";
  if (::mkdir(old.c_str(), 0700) != 0 && errno != EEXIST) DieErrno("mkdir " + old);
  if (::chdir(root.c_str()) != 0) DieErrno("chdir " + root);
  if (::syscall(SYS_pivot_root, ".", "old_root") != 0) DieErrno("pivot_root");
  if (::umount2("old_root", MNT_DETACH) != 0) DieErrno("umount old_root");
  if (::rmdir("old_root") != 0) DieErrno("rmdir old_root");
  if (::chroot(".") != 0) DieErrno("chroot");
}

void Node(const char* path, unsigned major, unsigned minor, uid_t uid, gid_t gid) {
  if (::mknod(path, S_IFCHR | S_IRUSR | S_IWUSR, makedev(major, minor)) != 0 && errno != EEXIST)
    DieErrno(std::string("mknod ") + path);
  if (::chown(path, uid, gid) != 0) DieErrno(std::string("chown ") + path);
}

// Never negative: a child of --new-pid-ns starts its CPU clock afresh.
int64_t MicrosSince(clockid_t clock, const timespec& from) {
  timespec now;
  ::clock_gettime(clock, &now);
  int64_t us = (now.tv_sec - from.tv_sec) * 1000000 + (now.tv_nsec - from.tv_nsec) / 1000;
  return us < 0 ? 0 : us;
}

}  // namespace

int main(int argc, char** argv) {
  timespec began, began_cpu;
  ::clock_gettime(CLOCK_MONOTONIC, &began);
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &began_cpu);
  Args a = Parse(argc, argv);
  Validate(a);
  // Every descriptor but the standard three, and the environment.
  ::syscall(SYS_close_range, 3u, ~0u, 0u);
  ::clearenv();

  const std::string exec_name = fs::path(a.exec_file).filename();
  const std::string root = a.chroot_base + "/" + exec_name + "/" + a.id + "/root";
  MakeDirs(root);
  std::error_code ec;
  fs::copy_file(a.exec_file, root + "/" + exec_name, fs::copy_options::overwrite_existing, ec);
  if (ec) Die("copy " + a.exec_file + " into the jail: " + ec.message());
  if (::chmod((root + "/" + exec_name).c_str(), 0755) != 0) DieErrno("chmod the exec file");

  bool no_file_set = false;
  for (const auto& [k, v] : a.limits) {
    rlimit rl{v, v};
    int resource = k == "fsize" ? RLIMIT_FSIZE : RLIMIT_NOFILE;
    if (k == "no-file") no_file_set = true;
    if (::setrlimit(resource, &rl) != 0) DieErrno("setrlimit " + k);
  }
  if (!no_file_set) {
    rlimit rl{2048, 2048};
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) DieErrno("setrlimit no-file");
  }

  if (!a.cgroups.empty() || a.cgroup_version == 2) JoinCgroups(a);

  int dev_null = -1;
  if (a.daemonize) {
    dev_null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (dev_null < 0) DieErrno("open /dev/null");
  }
  int netns = -1;
  if (!a.netns.empty()) {
    netns = ::open(a.netns.c_str(), O_RDONLY | O_CLOEXEC);
    if (netns < 0) DieErrno("open " + a.netns);
  }

  Pivot(root);
  if (::mkdir("/dev", 0755) != 0 && errno != EEXIST) DieErrno("mkdir /dev");
  if (::mkdir("/dev/net", 0755) != 0 && errno != EEXIST) DieErrno("mkdir /dev/net");
  Node("/dev/net/tun", 10, 200, a.uid, a.gid);
  Node("/dev/kvm", 10, 232, a.uid, a.gid);
  if (::chown("/", a.uid, a.gid) != 0) DieErrno("chown the jail root");

  if (netns >= 0) {
    if (::setns(netns, CLONE_NEWNET) != 0) DieErrno("setns " + a.netns);
    ::close(netns);
  }
  if (a.daemonize) {
    if (::setsid() < 0 && errno != EPERM) DieErrno("setsid");
    for (int fd = 0; fd < 3; ++fd) ::dup2(dev_null, fd);
    ::close(dev_null);
  }

  const std::string pid_file = "/" + exec_name + ".pid";
  auto write_pid = [&](pid_t pid) {
    std::ofstream out(pid_file, std::ios::trunc);
    out << pid;
    if (!out.flush()) Die("cannot write " + pid_file);
  };
  if (a.new_pid_ns) {
    if (::unshare(CLONE_NEWPID) != 0) DieErrno("unshare(CLONE_NEWPID)");
    pid_t child = ::fork();
    if (child < 0) DieErrno("fork into the new PID namespace");
    if (child > 0) {
      write_pid(child);
      return 0;
    }
  } else {
    write_pid(::getpid());
  }

  if (::setgroups(0, nullptr) != 0) DieErrno("setgroups");
  if (::setgid(a.gid) != 0) DieErrno("setgid");
  if (::setuid(a.uid) != 0) DieErrno("setuid");

  std::vector<std::string> args{
      "/" + exec_name, "--id=" + a.id,
      "--start-time-us=" + std::to_string(MicrosSince(CLOCK_MONOTONIC, began)),
      "--start-time-cpu-us=" + std::to_string(MicrosSince(CLOCK_PROCESS_CPUTIME_ID, began_cpu))};
  args.insert(args.end(), a.extra.begin(), a.extra.end());
  std::vector<char*> cargv;
  for (auto& s : args) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  ::execv(cargv[0], cargv.data());
  DieErrno(std::string("exec ") + cargv[0] + " in the jail");
}
