#include "tests/fc-sim/sim_metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

namespace fcsim {
namespace {

using nlohmann::json;

// Firecracker's metric groups and their fields (x86_64), as its own
// integration tests list them. A field named "*_agg" is a latency aggregate.
const std::vector<std::pair<const char*, std::vector<const char*>>>& Groups() {
  static const std::vector<std::pair<const char*, std::vector<const char*>>> kGroups = {
      {"api_server",
       {"process_startup_time_us", "process_startup_time_cpu_us", "sync_response_fails",
        "sync_vmm_send_timeout_count"}},
      {"balloon",
       {"activate_fails", "inflate_count", "stats_updates_count", "stats_update_fails",
        "deflate_count", "event_fails"}},
      {"block",
       {"activate_fails",
        "cfg_fails",
        "no_avail_buffer",
        "event_fails",
        "execute_fails",
        "invalid_reqs_count",
        "flush_count",
        "queue_event_count",
        "rate_limiter_event_count",
        "update_count",
        "update_fails",
        "read_bytes",
        "write_bytes",
        "read_count",
        "write_count",
        "rate_limiter_throttled_events",
        "io_engine_throttled_events",
        "remaining_reqs_count",
        "read_agg",
        "write_agg"}},
      {"deprecated_api", {"deprecated_http_api_calls", "deprecated_cmd_line_api_calls"}},
      {"get_api_requests",
       {"instance_info_count", "machine_cfg_count", "mmds_count", "vmm_version_count"}},
      {"i8042",
       {"error_count", "missed_read_count", "missed_write_count", "read_count", "reset_count",
        "write_count"}},
      {"latencies_us",
       {"full_create_snapshot", "diff_create_snapshot", "load_snapshot", "pause_vm", "resume_vm",
        "vmm_full_create_snapshot", "vmm_diff_create_snapshot", "vmm_load_snapshot", "vmm_pause_vm",
        "vmm_resume_vm"}},
      {"logger", {"missed_metrics_count", "metrics_fails", "missed_log_count", "log_fails"}},
      {"mmds",
       {"rx_accepted", "rx_accepted_err", "rx_accepted_unusual", "rx_bad_eth", "rx_count",
        "tx_bytes", "tx_count", "tx_errors", "tx_frames", "connections_created",
        "connections_destroyed"}},
      {"net",
       {"activate_fails",
        "cfg_fails",
        "mac_address_updates",
        "no_rx_avail_buffer",
        "no_tx_avail_buffer",
        "event_fails",
        "rx_queue_event_count",
        "rx_event_rate_limiter_count",
        "rx_partial_writes",
        "rx_rate_limiter_throttled",
        "rx_tap_event_count",
        "rx_bytes_count",
        "rx_packets_count",
        "rx_fails",
        "rx_count",
        "tap_read_fails",
        "tap_write_fails",
        "tx_bytes_count",
        "tx_malformed_frames",
        "tx_fails",
        "tx_count",
        "tx_packets_count",
        "tx_partial_reads",
        "tx_queue_event_count",
        "tx_rate_limiter_event_count",
        "tx_rate_limiter_throttled",
        "tx_spoofed_mac_count",
        "tx_remaining_reqs_count",
        "tap_write_agg"}},
      {"patch_api_requests",
       {"drive_count", "drive_fails", "network_count", "network_fails", "machine_cfg_count",
        "machine_cfg_fails", "mmds_count", "mmds_fails"}},
      {"put_api_requests",
       {"actions_count",     "actions_fails",     "boot_source_count", "boot_source_fails",
        "drive_count",       "drive_fails",       "logger_count",      "logger_fails",
        "machine_cfg_count", "machine_cfg_fails", "cpu_cfg_count",     "cpu_cfg_fails",
        "metrics_count",     "metrics_fails",     "network_count",     "network_fails",
        "mmds_count",        "mmds_fails",        "vsock_count",       "vsock_fails"}},
      {"seccomp", {"num_faults"}},
      {"vcpu", {"exit_io_in", "exit_io_out", "exit_mmio_read", "exit_mmio_write", "failures"}},
      {"vmm", {"device_events", "panic_count"}},
      {"uart",
       {"error_count", "flush_count", "missed_read_count", "missed_write_count", "read_count",
        "write_count"}},
      {"signals", {"sigbus", "sigsegv", "sigxfsz", "sigxcpu", "sigpipe", "sighup", "sigill"}},
      {"vsock",
       {"activate_fails",       "cfg_fails",         "rx_queue_event_fails", "tx_queue_event_fails",
        "ev_queue_event_fails", "muxer_event_fails", "conn_event_fails",     "rx_queue_event_count",
        "tx_queue_event_count", "rx_bytes_count",    "tx_bytes_count",       "rx_packets_count",
        "tx_packets_count",     "conns_added",       "conns_killed",         "conns_removed",
        "killq_resync",         "tx_flush_fails",    "tx_write_fails",       "rx_read_fails"}},
      {"entropy",
       {"activate_fails", "entropy_event_fails", "entropy_event_count", "entropy_bytes",
        "host_rng_fails", "entropy_rate_limiter_throttled", "rate_limiter_event_count"}},
  };
  return kGroups;
}

const std::vector<const char*>* FieldsOf(const std::string& group) {
  for (const auto& [name, fields] : Groups()) {
    if (group == name) return &fields;
  }
  return nullptr;
}

bool IsAggregate(const std::string& field) {
  return field.size() > 4 && field.compare(field.size() - 4, 4, "_agg") == 0;
}

}  // namespace

std::string SimMetrics::Open(const std::string& path, bool emit_id, const std::string& id,
                             std::map<std::string, std::string> properties) {
  std::lock_guard lock(mu_);
  if (fd_ >= 0) return "Reinitialization of metrics not allowed.";
  // Firecracker: OpenOptions read+write, O_NONBLOCK, no create, no truncate.
  int fd = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return std::string("Cannot open the metrics file: ") + std::strerror(errno) + " (os error " +
           std::to_string(errno) + ")";
  }
  fd_ = fd;
  emit_id_ = emit_id;
  id_ = id;
  properties_ = std::move(properties);
  return "";
}

bool SimMetrics::configured() const {
  std::lock_guard lock(mu_);
  return fd_ >= 0;
}

void SimMetrics::Add(const std::string& group, const std::string& field, uint64_t n) {
  std::lock_guard lock(mu_);
  counters_[group][field] += n;
}

void SimMetrics::AddDevice(const std::string& kind, const std::string& id) {
  std::lock_guard lock(mu_);
  for (const auto& d : devices_) {
    if (d.first == kind && d.second == id) return;
  }
  devices_.emplace_back(kind, id);
}

void SimMetrics::SetStore(const std::string& group, const std::string& field, uint64_t value) {
  std::lock_guard lock(mu_);
  stores_[group][field] = value;
}

bool SimMetrics::Flush() {
  std::lock_guard lock(mu_);
  if (fd_ < 0) return false;
  json line = json::object();
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  line["utc_timestamp_ms"] = now;
  if (emit_id_) line["id"] = id_;
  if (!properties_.empty()) line["properties"] = properties_;
  auto fill = [&](const std::string& group, const std::vector<const char*>& fields) {
    json g = json::object();
    for (const char* f : fields) {
      std::string field = f;
      if (IsAggregate(field)) {
        g[field] = {{"min_us", 0}, {"max_us", 0}, {"sum_us", 0}};
        continue;
      }
      uint64_t v = counters_[group][field];
      if (auto s = stores_.find(group); s != stores_.end() && s->second.count(field)) {
        v = s->second.at(field);
      }
      g[field] = v;
    }
    line[group] = g;
  };
  for (const auto& [name, fields] : Groups()) fill(name, fields);
  // Per-device groups have the fields of their kind's aggregate group.
  for (const auto& [kind, id] : devices_) fill(kind + "_" + id, *FieldsOf(kind));
  counters_.clear();  // deltas: each line counts only what happened since the last
  std::string text = line.dump() + "\n";
  ssize_t unused = ::write(fd_, text.data(), text.size());
  (void)unused;
  return true;
}

}  // namespace fcsim
