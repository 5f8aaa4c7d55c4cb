// VmSampler: one VM's figures, cheaply and repeatedly. The VMM's
// /proc/PID/stat stays open and is read with one pread (no process spawned,
// no path lookup): CPU % over the interval since the last
// sample (utime+stime deltas against elapsed time; the first sample averages
// over the process's life), RSS and VSZ; the allocated bytes of the system
// overlay and the work disk (st_blocks * 512, not the apparent size; read at
// most once every VmTarget::disk_interval_ms, they change slowly); and
// Firecracker's metrics file, read incrementally from the last offset: delta
// counters are added up, absolute ones (api_server, latencies_us, *_agg
// min/max) keep the latest value, a line that does not parse is skipped and
// counted, a file shorter than the offset (truncated by a VMM restart) is
// read again from the start. A jailed VMM's CPU time and memory come from
// its cgroup instead (cpu.stat or cpuacct.usage, memory.current or
// memory.usage_in_bytes, each kept open and pread): the whole VMM, all its
// threads, in one read each; RSS is then the cgroup's memory use and VSZ is
// not read. Not thread-safe: one sampler per VM, used by one thread at a
// time.
#pragma once

#include <sys/types.h>

#include <banger/capability.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/stats/metrics_line.h"

namespace stats {

// What to sample; the views need to last only for the Take call.
struct VmTarget {
  int64_t pid = 0;
  uint64_t pid_start_time = 0;
  std::string_view metrics_path, overlay_path, work_disk_path;
  std::string_view cgroup_cpu_dir, cgroup_memory_dir;  // jailed VMMs only
  // The disks' allocation is read again once this long has passed since it
  // was last read (0: every sample).
  int64_t disk_interval_ms = 0;
};

struct Sample {
  bool process_found = false;
  double cpu_usage_ratio = 0;  // of one CPU, over the interval (0.5: half a CPU)
  double cpu_seconds = 0;      // the VMM's CPU time so far
  uint64_t rss_bytes = 0, vsz_bytes = 0;
  uint64_t overlay_allocated_bytes = 0, work_allocated_bytes = 0;
  uint64_t metrics_lines = 0, metrics_bad_lines = 0;
  // Firecracker's metrics, "net.rx_bytes_count" -> total or latest; owned by
  // the sampler (valid until its next Take), not copied per sample.
  const MetricsFolder* metrics = nullptr;
  double Metric(std::string_view name) const;
  // The Firecracker figures that are published, in kFcPublished's order.
  static constexpr size_t kFcCount = 10;
  double fc[kFcCount] = {};
  // The figures published to the VM's record (a compact subset), under
  // static names.
  static constexpr size_t kPublishedCount = 15;
  using Figures = std::array<banger_figure, kPublishedCount>;  // typed: counters, gauges
  Figures Published() const;
};

class VmSampler {
 public:
  VmSampler() = default;
  ~VmSampler();
  VmSampler(const VmSampler&) = delete;
  VmSampler& operator=(const VmSampler&) = delete;

  Sample Take(const VmTarget& target, int64_t now_ms);

 private:
  void Open(const VmTarget& target);
  void Close();
  void ReadMetrics(Sample& s);
  void ReadProcess(const VmTarget& t, int64_t now_ms, Sample& s);
  bool ReadCgroup(int64_t now_ms, Sample& s);

  // What the open files belong to.
  int64_t pid_ = 0;
  uint64_t pid_start_time_ = 0;
  std::string metrics_path_, overlay_path_, work_disk_path_;
  std::string cgroup_cpu_dir_, cgroup_memory_dir_;
  int stat_fd_ = -1, metrics_fd_ = -1;
  int cpu_fd_ = -1, memory_fd_ = -1;  // the cgroup's files (jailed VMMs)
  bool cpu_v2_ = false;               // cpu.stat (µs), else cpuacct.usage (ns)
  uint64_t last_cpu_ns_ = 0;
  int overlay_fd_ = -1, work_fd_ = -1;  // O_PATH: fstat without a path lookup
  uint64_t last_ticks_ = 0;
  int64_t last_ms_ = 0;
  int64_t disks_read_ms_ = 0;  // when the disks' allocation was last read
  uint64_t overlay_allocated_ = 0, work_allocated_ = 0;
  uint64_t offset_ = 0;
  uint64_t lines_ = 0, bad_lines_ = 0;
  MetricsFolder metrics_;
  std::vector<size_t> fc_at_;  // where each published figure is in metrics_
  size_t fc_at_for_size_ = 0;  // metrics_.size() when fc_at_ was found
};

}  // namespace stats
