#include "core/api/console_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>
#include <tuple>
#include <vector>

#include "core/base/unique_fd.h"

namespace banger::core {
namespace {

constexpr size_t kChunk = 64 << 10;
constexpr auto kPoll = std::chrono::milliseconds(100);

// The kept files, oldest first (path.N ... path.1, path), those that exist.
std::vector<std::string> KeptFiles(const std::string& path, int keep) {
  std::vector<std::string> files;
  for (int i = keep; i >= 1; --i) {
    std::string rotated = path + "." + std::to_string(i);
    if (::access(rotated.c_str(), F_OK) == 0) files.push_back(rotated);
  }
  files.push_back(path);
  return files;
}

// Where the last `lines` (>= 1) lines begin: a file's index and offset.
std::pair<size_t, off_t> TailStart(const std::vector<std::string>& files, uint64_t lines) {
  uint64_t seen = 0;
  for (size_t f = files.size(); f-- > 0;) {
    UniqueFd fd(::open(files[f].c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    struct stat st {};
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0) continue;
    off_t end = st.st_size;
    bool last_byte = f == files.size() - 1;  // the newest file's final newline ends a line
    char buf[kChunk];
    while (end > 0) {
      off_t start = end > static_cast<off_t>(kChunk) ? end - static_cast<off_t>(kChunk) : 0;
      ssize_t n = ::pread(fd.get(), buf, static_cast<size_t>(end - start), start);
      if (n <= 0) break;
      for (ssize_t i = n; i-- > 0;) {
        if (buf[i] != '\n') continue;
        if (last_byte && start + i == st.st_size - 1) continue;  // the last line's own end
        if (++seen == lines) return {f, start + i + 1};
      }
      end = start;
    }
  }
  return {0, 0};  // fewer lines than asked: everything
}

// Where the last line beginning with `marker` is: a file's index and offset
// (the start of everything when there is none).
std::pair<size_t, off_t> LastMarker(const std::vector<std::string>& files,
                                    const std::string& marker) {
  const std::string needle = "\n" + marker;
  for (size_t f = files.size(); f-- > 0;) {
    UniqueFd fd(::open(files[f].c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid()) continue;
    std::optional<off_t> found;
    std::string window = "\n";  // the file's start is a line's start
    off_t window_at = -1;       // file offset of window[0]
    std::string buf(kChunk, '\0');
    for (;;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n <= 0) break;
      window.append(buf.data(), static_cast<size_t>(n));
      for (size_t at = window.find(needle); at != std::string::npos;
           at = window.find(needle, at + 1)) {
        found = window_at + static_cast<off_t>(at) + 1;
      }
      // Keep a needle's length, for a marker cut between two reads.
      size_t keep = std::min(window.size(), needle.size() - 1);
      window_at += static_cast<off_t>(window.size() - keep);
      window.erase(0, window.size() - keep);
    }
    if (found) return {f, *found};
  }
  return {0, 0};
}

// Sends what `fd` holds from its offset on; false when the reader left.
bool Drain(int fd, const std::function<bool(const std::string&)>& emit, bool* sent = nullptr) {
  std::string buf(kChunk, '\0');
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) return true;
    if (sent) *sent = true;
    if (!emit(buf.substr(0, static_cast<size_t>(n)))) return false;
  }
}

}  // namespace

void StreamConsoleLog(const ConsoleLogRequest& request, const std::string& marker,
                      const std::function<bool(const std::string&)>& emit,
                      const std::function<bool()>& still_running) {
  std::vector<std::string> files = KeptFiles(request.path, request.keep);
  size_t first = 0;
  off_t offset = 0;
  if (request.last_boot) {
    std::tie(first, offset) = LastMarker(files, marker);
  } else if (request.tail_lines) {
    if (*request.tail_lines == 0) {
      first = files.size() - 1;
      struct stat st {};
      offset = ::stat(request.path.c_str(), &st) == 0 ? st.st_size : 0;
    } else {
      std::tie(first, offset) = TailStart(files, *request.tail_lines);
    }
  }
  UniqueFd current;
  for (size_t f = first; f < files.size(); ++f) {
    UniqueFd fd(::open(files[f].c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid()) continue;
    if (f == first && offset > 0) ::lseek(fd.get(), offset, SEEK_SET);
    if (!Drain(fd.get(), emit)) return;
    if (f == files.size() - 1) current = std::move(fd);
  }
  if (!request.follow) return;
  // Follow: new bytes as they come; a rotation (the path is another file
  // now) finishes the old file, then reads the new one from its start.
  for (;;) {
    bool running = still_running();
    bool sent = false;
    if (current.valid() && !Drain(current.get(), emit, &sent)) return;
    struct stat now {
    }, open_one{};
    bool rotated =
        ::stat(request.path.c_str(), &now) == 0 &&
        (!current.valid() || (::fstat(current.get(), &open_one) == 0 &&
                              (now.st_ino != open_one.st_ino || now.st_dev != open_one.st_dev)));
    if (rotated) {
      if (current.valid() && !Drain(current.get(), emit, &sent)) return;
      current = UniqueFd(::open(request.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      if (current.valid()) continue;  // at once: the new file's first lines
    }
    // Stopped, and everything it wrote was sent: the end.
    if (!running && !sent) return;
    // A reader gone (or the agent stopping) is noticed even while the VM is
    // quiet: the probe, between waits.
    if (!emit("")) return;
    std::this_thread::sleep_for(kPoll);
  }
}

}  // namespace banger::core
