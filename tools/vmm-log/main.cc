// banger-vmm-log: copies a VMM's output (Firecracker's stdout and stderr: the
// guest's serial console and its own log) from stdin to a file, capped and
// rotated, until the VMM closes it (exits). The agent starts one per VM with
// the VMM's output piped to it, in a session of its own, so like the VMM it
// outlives an agent restart; it holds nothing but the pipe and the file.
//
//   banger-vmm-log --file PATH --max-bytes N [--keep K] [--detach]
//
// --detach: once the file is open, fork; the first process exits (0, or 1
// when the file cannot be opened) and the second goes on, so the agent reaps
// its child at once and the writer is nobody's child to reap but init's.
//
// PATH never grows past N bytes: before a write that would take it past N,
// PATH.(K-1) becomes PATH.K, ..., PATH becomes PATH.1 (the oldest dropped)
// and PATH starts empty; at most (K+1)*N bytes are kept. A line is never
// split across files unless one line alone is larger than N. Exit 0 at the
// end of input, 2 for usage, 1 when the file cannot be written (the VMM then
// sees its writes fail with EPIPE: its output is lost, not the VM).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int Usage(const char* why) {
  std::fprintf(
      stderr,
      "banger-vmm-log: %s\nusage: banger-vmm-log --file PATH --max-bytes N [--keep K] [--detach]\n",
      why);
  return 2;
}

struct Log {
  std::string path;
  unsigned long long max_bytes = 0;
  int keep = 1;
  int fd = -1;
  unsigned long long size = 0;

  bool Open() {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) return false;
    struct stat st;
    size = ::fstat(fd, &st) == 0 ? static_cast<unsigned long long>(st.st_size) : 0;
    return true;
  }

  bool Rotate() {
    ::close(fd);
    for (int i = keep; i >= 1; --i) {
      std::string from = i == 1 ? path : path + "." + std::to_string(i - 1);
      ::rename(from.c_str(), (path + "." + std::to_string(i)).c_str());
    }
    return Open();
  }

  bool WriteAll(const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      p += w;
      n -= static_cast<size_t>(w);
      size += static_cast<unsigned long long>(w);
    }
    return true;
  }

  // Writes `n` bytes, rotating before the cap, at a line's end when one is
  // in the piece that fits.
  bool Write(const char* p, size_t n) {
    while (n > 0) {
      unsigned long long room = size < max_bytes ? max_bytes - size : 0;
      if (n <= room) return WriteAll(p, n);
      // What fits, cut after its last newline (a whole line) if it has one.
      size_t take = static_cast<size_t>(room);
      for (size_t i = take; i > 0; --i) {
        if (p[i - 1] == '\n') {
          take = i;
          break;
        }
        if (i == 1) take = size == 0 ? static_cast<size_t>(room) : 0;
      }
      if (take > 0 && !WriteAll(p, take)) return false;
      p += take;
      n -= take;
      if (!Rotate()) return false;
    }
    return true;
  }
};

}  // namespace

int main(int argc, char** argv) {
  Log log;
  bool detach = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--detach") {
      detach = true;
      continue;
    }
    if (i + 1 >= argc) return Usage(("missing value for " + a).c_str());
    const char* v = argv[++i];
    char* end = nullptr;
    if (a == "--file") {
      log.path = v;
    } else if (a == "--max-bytes") {
      log.max_bytes = std::strtoull(v, &end, 10);
      if (*end || log.max_bytes < 4096) return Usage("--max-bytes takes a number >= 4096");
    } else if (a == "--keep") {
      log.keep = static_cast<int>(std::strtol(v, &end, 10));
      if (*end || log.keep < 1 || log.keep > 100) return Usage("--keep takes 1..100");
    } else {
      return Usage(("unknown argument " + a).c_str());
    }
  }
  if (log.path.empty() || log.max_bytes == 0) return Usage("--file and --max-bytes are required");
  // Its own session already (the agent starts it so): no terminal signal
  // reaches it; the end of the VMM's output is its only way out.
  ::signal(SIGPIPE, SIG_IGN);
  if (!log.Open()) {
    std::fprintf(stderr, "banger-vmm-log: %s: %s\n", log.path.c_str(), std::strerror(errno));
    return 1;
  }
  if (detach) {
    pid_t child = ::fork();
    if (child < 0) {
      std::fprintf(stderr, "banger-vmm-log: fork: %s\n", std::strerror(errno));
      return 1;
    }
    if (child > 0) _exit(0);
  }
  static char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!log.Write(buf, static_cast<size_t>(n))) {
      std::fprintf(stderr, "banger-vmm-log: %s: %s\n", log.path.c_str(), std::strerror(errno));
      return 1;
    }
  }
  ::close(log.fd);
  return 0;
}
