#include "plugins/stats/vm_sampler.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace stats {
namespace {

const long kTicks = ::sysconf(_SC_CLK_TCK);
const long kPage = ::sysconf(_SC_PAGESIZE);

ssize_t ReadAt(int fd, char* buf, size_t size) {
  ssize_t n = ::pread(fd, buf, size - 1, 0);
  if (n >= 0) buf[n] = '\0';
  return n;
}

uint64_t Allocated(int& fd, const std::string& path) {
  if (fd < 0 && !path.empty()) fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

double Uptime() {
  char buf[64] = {0};
  int fd = ::open("/proc/uptime", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ReadAt(fd, buf, sizeof buf);
  ::close(fd);
  return std::atof(buf);
}

// The Firecracker figures a sample publishes (Sample::fc, in this order).
constexpr const char* kFcPublished[Sample::kFcCount] = {
    "net.rx_bytes_count",   "net.tx_bytes_count",   "block.read_bytes", "block.write_bytes",
    "vsock.rx_bytes_count", "vsock.tx_bytes_count", "vcpu.exit_io_in",  "vcpu.exit_io_out",
    "vcpu.exit_mmio_read",  "vcpu.exit_mmio_write"};

}  // namespace

double Sample::Metric(std::string_view name) const {
  return metrics ? metrics->Get(name) : 0.0;
}

namespace {

banger_figure Gauge(const char* name, double v, const char* unit, const char* help) {
  return {sizeof(banger_figure), BANGER_FIGURE_GAUGE, name, v, unit, help};
}
banger_figure Counter(const char* name, double v, const char* unit, const char* help) {
  return {sizeof(banger_figure), BANGER_FIGURE_COUNTER, name, v, unit, help};
}

}  // namespace

Sample::Figures Sample::Published() const {
  return {{
      Counter("cpu_seconds_total", cpu_seconds, "seconds",
              "CPU time the VMM used (its cgroup's when jailed)."),
      Gauge("cpu_usage_ratio", cpu_usage_ratio, "ratio",
            "CPU the VMM used over the last interval, as a share of one CPU (1 = one whole CPU)."),
      Gauge("rss_bytes", static_cast<double>(rss_bytes), "bytes",
            "Memory the VMM holds (its cgroup's use when jailed)."),
      Gauge("vsz_bytes", static_cast<double>(vsz_bytes), "bytes",
            "The VMM's virtual size (0 when jailed: not read)."),
      Gauge("overlay_allocated_bytes", static_cast<double>(overlay_allocated_bytes), "bytes",
            "Bytes allocated to the VM's system disk overlay."),
      Gauge("work_allocated_bytes", static_cast<double>(work_allocated_bytes), "bytes",
            "Bytes allocated to the VM's work disk."),
      Counter("fc_net_rx_bytes_total", fc[0], "bytes", "Bytes the guest received (Firecracker)."),
      Counter("fc_net_tx_bytes_total", fc[1], "bytes", "Bytes the guest sent (Firecracker)."),
      Counter("fc_block_read_bytes_total", fc[2], "bytes", "Bytes read from the VM's disks."),
      Counter("fc_block_write_bytes_total", fc[3], "bytes", "Bytes written to the VM's disks."),
      Counter("fc_vsock_rx_bytes_total", fc[4], "bytes", "Bytes the guest received over vsock."),
      Counter("fc_vsock_tx_bytes_total", fc[5], "bytes", "Bytes the guest sent over vsock."),
      Counter("fc_vcpu_exits_total", fc[6] + fc[7] + fc[8] + fc[9], "",
              "vCPU exits for port and MMIO I/O (Firecracker)."),
      Counter("fc_metrics_lines_total", static_cast<double>(metrics_lines), "",
              "Lines read from Firecracker's metrics file."),
      Counter("fc_metrics_bad_lines_total", static_cast<double>(metrics_bad_lines), "",
              "Lines of Firecracker's metrics file that did not parse (skipped)."),
  }};
}

VmSampler::~VmSampler() {
  Close();
}

void VmSampler::Close() {
  for (int* fd : {&stat_fd_, &metrics_fd_, &overlay_fd_, &work_fd_, &cpu_fd_, &memory_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

void VmSampler::Open(const VmTarget& t) {
  Close();
  pid_ = t.pid;
  pid_start_time_ = t.pid_start_time;
  metrics_path_ = t.metrics_path;
  overlay_path_ = t.overlay_path;
  work_disk_path_ = t.work_disk_path;
  cgroup_cpu_dir_ = t.cgroup_cpu_dir;
  cgroup_memory_dir_ = t.cgroup_memory_dir;
  if (!cgroup_cpu_dir_.empty() && !cgroup_memory_dir_.empty()) {
    cpu_fd_ = ::open((cgroup_cpu_dir_ + "/cpu.stat").c_str(), O_RDONLY | O_CLOEXEC);
    cpu_v2_ = cpu_fd_ >= 0;
    if (!cpu_v2_)
      cpu_fd_ = ::open((cgroup_cpu_dir_ + "/cpuacct.usage").c_str(), O_RDONLY | O_CLOEXEC);
    memory_fd_ = ::open((cgroup_memory_dir_ + "/memory.current").c_str(), O_RDONLY | O_CLOEXEC);
    if (memory_fd_ < 0) {
      memory_fd_ =
          ::open((cgroup_memory_dir_ + "/memory.usage_in_bytes").c_str(), O_RDONLY | O_CLOEXEC);
    }
  } else {
    std::string proc = "/proc/" + std::to_string(t.pid);
    stat_fd_ = ::open((proc + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
  }
  last_ms_ = 0;
  last_cpu_ns_ = 0;
  disks_read_ms_ = 0;
  offset_ = 0;
  lines_ = bad_lines_ = 0;
  metrics_.Clear();
}

Sample VmSampler::Take(const VmTarget& t, int64_t now_ms) {
  // A new VMM (or a new VM in this slot): start over.
  if (t.pid != pid_ || t.pid_start_time != pid_start_time_ || t.metrics_path != metrics_path_ ||
      t.overlay_path != overlay_path_ || t.work_disk_path != work_disk_path_ ||
      t.cgroup_cpu_dir != cgroup_cpu_dir_ || (stat_fd_ < 0 && cpu_fd_ < 0)) {
    Open(t);
  }
  Sample s;
  if (!cgroup_cpu_dir_.empty() && !cgroup_memory_dir_.empty()) {
    ReadCgroup(now_ms, s);
  } else {
    ReadProcess(t, now_ms, s);
  }
  // The disks' allocation changes slowly: read at most once an interval (two
  // fstats were a quarter of a quiet tick over 1,000 VMs).
  if (disks_read_ms_ == 0 || now_ms - disks_read_ms_ >= t.disk_interval_ms ||
      now_ms < disks_read_ms_) {
    overlay_allocated_ = Allocated(overlay_fd_, overlay_path_);
    work_allocated_ = Allocated(work_fd_, work_disk_path_);
    disks_read_ms_ = now_ms;
  }
  s.overlay_allocated_bytes = overlay_allocated_;
  s.work_allocated_bytes = work_allocated_;
  ReadMetrics(s);
  return s;
}

void VmSampler::ReadProcess(const VmTarget& t, int64_t now_ms, Sample& s) {
  char buf[1024];
  if (stat_fd_ < 0 || ReadAt(stat_fd_, buf, sizeof buf) <= 0) return;
  // Fields after the command name (which may hold spaces): after the last ')'.
  const char* p = std::strrchr(buf, ')');
  uint64_t utime = 0, stime = 0, start = 0, vsize = 0, rss_pages = 0;
  if (p) {
    p += 2;
    // One read for all: CPU ticks, start time, VSZ (bytes) and RSS (pages).
    for (int field = 3; field <= 24 && p; ++field) {
      if (field == 14) utime = std::strtoull(p, nullptr, 10);
      if (field == 15) stime = std::strtoull(p, nullptr, 10);
      if (field == 22) start = std::strtoull(p, nullptr, 10);
      if (field == 23) vsize = std::strtoull(p, nullptr, 10);
      if (field == 24) rss_pages = std::strtoull(p, nullptr, 10);
      p = std::strchr(p, ' ');
      if (p) ++p;
    }
  }
  if (start == t.pid_start_time || t.pid_start_time == 0) {
    s.process_found = true;
    s.vsz_bytes = vsize;
    s.rss_bytes = rss_pages * static_cast<uint64_t>(kPage);
    uint64_t ticks = utime + stime;
    s.cpu_seconds = static_cast<double>(ticks) / kTicks;
    if (last_ms_ > 0 && now_ms > last_ms_) {
      s.cpu_usage_ratio = static_cast<double>(ticks - last_ticks_) / kTicks /
                          (static_cast<double>(now_ms - last_ms_) / 1000.0);
    } else {
      double lived = Uptime() - static_cast<double>(start) / kTicks;
      if (lived > 0) s.cpu_usage_ratio = static_cast<double>(ticks) / kTicks / lived;
    }
    last_ticks_ = ticks;
    last_ms_ = now_ms;
  }
}

bool VmSampler::ReadCgroup(int64_t now_ms, Sample& s) {
  char buf[1024];
  if (cpu_fd_ < 0 || memory_fd_ < 0) return false;  // the cgroup is gone, or never was
  if (ReadAt(cpu_fd_, buf, sizeof buf) <= 0 || ReadAt(memory_fd_, buf + 512, 512) <= 0)
    return false;
  uint64_t cpu_ns = 0;
  if (cpu_v2_) {
    const char* u = std::strstr(buf, "usage_usec ");
    if (!u) return false;
    cpu_ns = std::strtoull(u + 11, nullptr, 10) * 1000;
  } else {
    cpu_ns = std::strtoull(buf, nullptr, 10);
  }
  s.process_found = true;
  s.rss_bytes = std::strtoull(buf + 512, nullptr, 10);
  s.cpu_seconds = static_cast<double>(cpu_ns) / 1e9;
  if (last_ms_ > 0 && now_ms > last_ms_ && cpu_ns >= last_cpu_ns_) {
    s.cpu_usage_ratio = static_cast<double>(cpu_ns - last_cpu_ns_) / 1e6 /  // ms of CPU per ms
                        static_cast<double>(now_ms - last_ms_);
  }
  last_cpu_ns_ = cpu_ns;
  last_ms_ = now_ms;
  return true;
}

void VmSampler::ReadMetrics(Sample& s) {
  if (metrics_fd_ < 0 && !metrics_path_.empty()) {
    // O_NOATIME: the file changes between reads, so each read would
    // otherwise dirty its inode for the access time. Only the file's owner
    // (or CAP_FOWNER) may ask for it; anyone else reads it plainly.
    // O_NOFOLLOW, O_NONBLOCK and a regular file only: a jailed VMM owns the
    // directory, and could leave a FIFO or a link to /dev/zero there.
    const int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
    metrics_fd_ = ::open(metrics_path_.c_str(), flags | O_NOATIME);
    if (metrics_fd_ < 0 && errno == EPERM) metrics_fd_ = ::open(metrics_path_.c_str(), flags);
    struct stat st;
    if (metrics_fd_ >= 0 && (::fstat(metrics_fd_, &st) != 0 || !S_ISREG(st.st_mode))) {
      ::close(metrics_fd_);
      metrics_fd_ = -1;
    }
  }
  if (metrics_fd_ >= 0) {
    // Only what was appended since the last sample: one pread when a line
    // or a few arrived (a short read of a regular file is its end), into a
    // buffer the samplers of this thread share.
    thread_local std::vector<char> buf(1 << 16);
    size_t len = 0;
    // At most this much per sample, whatever the VMM writes between two.
    constexpr size_t kMaxBytesPerSample = size_t{8} << 20;
    // The read starts at the last byte already read (when there is one): a
    // file now shorter than that (the same VMM emptied it) reads nothing,
    // which one read tells, without an fstat on every quiet tick.
    size_t back = offset_ > 0 ? 1 : 0;
    auto read_from_offset = [&] {
      for (;;) {
        if (len >= kMaxBytesPerSample + back) return;  // `back`: the byte read again
        if (buf.size() - len < 4096) buf.resize(buf.size() * 2);
        size_t want = buf.size() - len;
        ssize_t n =
            ::pread(metrics_fd_, buf.data() + len, want, static_cast<off_t>(offset_ - back + len));
        if (n <= 0) return;
        len += static_cast<size_t>(n);
        if (static_cast<size_t>(n) < want) return;
      }
    };
    read_from_offset();
    size_t skip = back;
    if (back > 0 && len == 0) {
      // Truncated: read it again from the start.
      offset_ = 0;
      skip = back = 0;
      metrics_.Clear();
      read_from_offset();
    }
    std::string_view chunk(buf.data() + std::min(skip, len), len - std::min(skip, len));
    len = chunk.size();
    // Only complete lines; a partial last line waits for the next sample.
    size_t begin = 0, nl;
    while ((nl = chunk.find('\n', begin)) != std::string_view::npos) {
      std::string_view line = chunk.substr(begin, nl - begin);
      if (!line.empty()) {
        ++lines_;
        if (!metrics_.Fold(line)) ++bad_lines_;
      }
      begin = nl + 1;
    }
    if (begin == 0 && len >= kMaxBytesPerSample) {
      begin = len;  // one "line" longer than a sample may read: skipped, counted
      ++bad_lines_;
    }
    offset_ += begin;
  }
  s.metrics = &metrics_;
  // The published figures' positions only change when new names appear.
  if (fc_at_.empty() || fc_at_for_size_ != metrics_.size()) {
    fc_at_.clear();
    for (const char* name : kFcPublished) fc_at_.push_back(metrics_.Find(name));
    fc_at_for_size_ = metrics_.size();
  }
  for (size_t i = 0; i < Sample::kFcCount; ++i) {
    s.fc[i] = fc_at_[i] == MetricsFolder::kAbsent ? 0.0 : metrics_.value(fc_at_[i]);
  }
  s.metrics_lines = lines_;
  s.metrics_bad_lines = bad_lines_;
}

}  // namespace stats
