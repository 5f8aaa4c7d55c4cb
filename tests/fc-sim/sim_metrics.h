// SimMetrics: fc-sim's metrics, written the way Firecracker writes them: one
// JSON object per line with Firecracker's groups (api_server, block, net,
// vcpu, vmm, vsock, ...; per-device block_<id> and net_<id>), counters as
// deltas since the previous line (reset on every flush), store metrics as
// absolute values, utc_timestamp_ms on each line. The file is opened like
// Firecracker opens it: it must exist, no truncate, no append. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace fcsim {

class SimMetrics {
 public:
  // Opens `path` for writing (must exist). Error text on failure.
  std::string Open(const std::string& path, bool emit_id, const std::string& id,
                   std::map<std::string, std::string> properties);
  bool configured() const;

  // Adds to a counter ("put_api_requests", "drive_count"). Unknown names
  // are allowed for per-device groups ("block_rootfs").
  void Add(const std::string& group, const std::string& field, uint64_t n = 1);
  void AddDevice(const std::string& kind, const std::string& id);  // "block"/"net"
  void SetStore(const std::string& group, const std::string& field, uint64_t value);

  // Writes one line and resets the counters. False when not configured.
  bool Flush();

 private:
  mutable std::mutex mu_;
  int fd_ = -1;
  bool emit_id_ = false;
  std::string id_;
  std::map<std::string, std::string> properties_;
  std::map<std::string, std::map<std::string, uint64_t>> counters_;  // reset on flush
  std::map<std::string, std::map<std::string, uint64_t>> stores_;    // kept
  std::vector<std::pair<std::string, std::string>> devices_;         // (kind, id)
};

}  // namespace fcsim
