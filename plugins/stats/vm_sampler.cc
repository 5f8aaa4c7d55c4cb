#include "plugins/stats/vm_sampler.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

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

// Absolute (store) metrics keep their latest value; everything else is a
// delta since the previous line and is added up.
bool IsAbsolute(const std::string& group, const std::string& leaf) {
  return group == "api_server" || group == "latencies_us" || group == "utc_timestamp_ms" ||
         leaf == "min_us" || leaf == "max_us";
}

void Walk(const nlohmann::json& j, const std::string& prefix, const std::string& group,
          std::map<std::string, double>& totals) {
  for (const auto& [k, v] : j.items()) {
    std::string name = prefix.empty() ? k : prefix + "." + k;
    const std::string& g = prefix.empty() ? k : group;
    if (v.is_object()) {
      Walk(v, name, g, totals);
    } else if (v.is_number()) {
      if (IsAbsolute(g, k)) {
        totals[name] = v.get<double>();
      } else {
        totals[name] += v.get<double>();
      }
    }
  }
}

}  // namespace

bool AccumulateMetricsLine(const std::string& line, std::map<std::string, double>& totals) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  j.erase("id");
  j.erase("properties");
  Walk(j, "", "", totals);
  return true;
}

double Sample::Metric(const char* name) const {
  if (!metrics) return 0;
  auto it = metrics->find(name);
  return it == metrics->end() ? 0.0 : it->second;
}

std::vector<std::pair<std::string, double>> Sample::Published() const {
  auto m = [&](const char* key) { return Metric(key); };
  return {
      {"cpu_percent", cpu_percent},
      {"rss_bytes", static_cast<double>(rss_bytes)},
      {"vsz_bytes", static_cast<double>(vsz_bytes)},
      {"overlay_allocated_bytes", static_cast<double>(overlay_allocated_bytes)},
      {"work_allocated_bytes", static_cast<double>(work_allocated_bytes)},
      {"fc_net_rx_bytes", m("net.rx_bytes_count")},
      {"fc_net_tx_bytes", m("net.tx_bytes_count")},
      {"fc_block_read_bytes", m("block.read_bytes")},
      {"fc_block_write_bytes", m("block.write_bytes")},
      {"fc_vsock_rx_bytes", m("vsock.rx_bytes_count")},
      {"fc_vsock_tx_bytes", m("vsock.tx_bytes_count")},
      {"fc_vcpu_exits", m("vcpu.exit_io_in") + m("vcpu.exit_io_out") + m("vcpu.exit_mmio_read") +
                            m("vcpu.exit_mmio_write")},
      {"fc_metrics_lines", static_cast<double>(metrics_lines)},
      {"fc_metrics_bad_lines", static_cast<double>(metrics_bad_lines)},
  };
}

VmSampler::~VmSampler() {
  Close();
}

void VmSampler::Close() {
  for (int* fd : {&stat_fd_, &statm_fd_, &metrics_fd_, &overlay_fd_, &work_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

void VmSampler::Open(const VmTarget& t) {
  Close();
  target_ = t;
  std::string proc = "/proc/" + std::to_string(t.pid);
  stat_fd_ = ::open((proc + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
  statm_fd_ = ::open((proc + "/statm").c_str(), O_RDONLY | O_CLOEXEC);
  last_ms_ = 0;
  offset_ = 0;
  lines_ = bad_lines_ = 0;
  totals_.clear();
}

Sample VmSampler::Take(const VmTarget& t, int64_t now_ms) {
  // A new VMM (or a new VM in this slot): start over.
  if (t.pid != target_.pid || t.pid_start_time != target_.pid_start_time ||
      t.metrics_path != target_.metrics_path || t.overlay_path != target_.overlay_path ||
      t.work_disk_path != target_.work_disk_path || stat_fd_ < 0) {
    Open(t);
  }
  Sample s;
  char buf[1024];
  if (stat_fd_ >= 0 && ReadAt(stat_fd_, buf, sizeof buf) > 0) {
    // Fields after the command name (which may hold spaces): after the last ')'.
    const char* p = std::strrchr(buf, ')');
    uint64_t utime = 0, stime = 0, start = 0;
    if (p) {
      p += 2;
      for (int field = 3; field <= 22 && p; ++field) {
        if (field == 14) utime = std::strtoull(p, nullptr, 10);
        if (field == 15) stime = std::strtoull(p, nullptr, 10);
        if (field == 22) start = std::strtoull(p, nullptr, 10);
        p = std::strchr(p, ' ');
        if (p) ++p;
      }
    }
    if (start == t.pid_start_time || t.pid_start_time == 0) {
      s.process_found = true;
      uint64_t ticks = utime + stime;
      if (last_ms_ > 0 && now_ms > last_ms_) {
        s.cpu_percent = 100.0 * static_cast<double>(ticks - last_ticks_) / kTicks /
                        (static_cast<double>(now_ms - last_ms_) / 1000.0);
      } else {
        double lived = Uptime() - static_cast<double>(start) / kTicks;
        if (lived > 0) s.cpu_percent = 100.0 * static_cast<double>(ticks) / kTicks / lived;
      }
      last_ticks_ = ticks;
      last_ms_ = now_ms;
    }
  }
  if (s.process_found && statm_fd_ >= 0 && ReadAt(statm_fd_, buf, sizeof buf) > 0) {
    char* end = nullptr;
    uint64_t size = std::strtoull(buf, &end, 10);
    uint64_t resident = std::strtoull(end, nullptr, 10);
    s.vsz_bytes = size * static_cast<uint64_t>(kPage);
    s.rss_bytes = resident * static_cast<uint64_t>(kPage);
  }
  s.overlay_allocated_bytes = Allocated(overlay_fd_, target_.overlay_path);
  s.work_allocated_bytes = Allocated(work_fd_, target_.work_disk_path);
  ReadMetrics(t, s);
  return s;
}

void VmSampler::ReadMetrics(const VmTarget& t, Sample& s) {
  if (metrics_fd_ < 0 && !t.metrics_path.empty()) {
    metrics_fd_ = ::open(t.metrics_path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (metrics_fd_ >= 0) {
    struct stat st;
    if (::fstat(metrics_fd_, &st) == 0) {
      if (static_cast<uint64_t>(st.st_size) < offset_) {
        // Truncated: a VMM restart emptied it. Read it again from the start.
        offset_ = 0;
        totals_.clear();
      }
      std::string chunk;
      char buf[65536];
      ssize_t n;
      uint64_t at = offset_;
      while ((n = ::pread(metrics_fd_, buf, sizeof buf, static_cast<off_t>(at))) > 0) {
        chunk.append(buf, static_cast<size_t>(n));
        at += static_cast<uint64_t>(n);
      }
      // Only complete lines; a partial last line waits for the next sample.
      size_t begin = 0, nl;
      while ((nl = chunk.find('\n', begin)) != std::string::npos) {
        std::string line = chunk.substr(begin, nl - begin);
        if (!line.empty()) {
          ++lines_;
          if (!AccumulateMetricsLine(line, totals_)) ++bad_lines_;
        }
        begin = nl + 1;
      }
      offset_ += begin;
    }
  }
  s.metrics = &totals_;
  s.metrics_lines = lines_;
  s.metrics_bad_lines = bad_lines_;
}

}  // namespace stats
