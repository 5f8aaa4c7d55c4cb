// FirecrackerClient: Firecracker's HTTP API over its UNIX socket, every call
// with a deadline. A 400 becomes "firecracker PUT /drives/rootfs: <its
// fault_message>"; a missing socket, a refused connection, a timeout and a VMM
// that dies mid-call each give their own message (and Status code:
// kUnavailable for the first two, kError for the others, kInvalid for a 400).
// The body builders are separate, pure functions so tests can hold every body
// to the API spec. Stateless apart from the socket path; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/base/status.h"

namespace banger::core {

struct FcBootSource {
  std::string kernel_image_path;
  std::string boot_args;    // "" = omitted
  std::string initrd_path;  // "" = omitted
};

struct FcDrive {
  std::string drive_id;
  std::string path_on_host;
  bool is_root_device = false;
  bool is_read_only = false;
};

struct FcNetworkInterface {
  std::string iface_id;
  std::string host_dev_name;
  std::string guest_mac;  // "" = omitted (Firecracker picks one)
};

struct FcVsock {
  uint32_t guest_cid = 3;
  std::string uds_path;
};

struct FcMachineConfig {
  uint32_t vcpu_count = 1;
  uint64_t mem_size_mib = 128;
  bool smt = false;
};

struct FcMetrics {
  std::string metrics_path;
};

enum class FcAction { kInstanceStart, kSendCtrlAltDel, kFlushMetrics };

struct FcInstanceInfo {
  std::string id;
  std::string state;  // "Not started" | "Running" | "Paused"
  std::string vmm_version;
};

// JSON bodies, exactly as sent.
std::string BootSourceBody(const FcBootSource& b);
std::string DriveBody(const FcDrive& d);
std::string NetworkInterfaceBody(const FcNetworkInterface& n);
std::string VsockBody(const FcVsock& v);
std::string MachineConfigBody(const FcMachineConfig& m);
std::string MetricsBody(const FcMetrics& m);
std::string ActionBody(FcAction a);

class FirecrackerClient {
 public:
  explicit FirecrackerClient(std::string api_socket,
                             std::chrono::milliseconds timeout = std::chrono::seconds(5))
      : api_socket_(std::move(api_socket)), timeout_(timeout) {}

  Result<FcInstanceInfo> GetInstanceInfo() const;
  Status PutBootSource(const FcBootSource& b) const;
  Status PutDrive(const FcDrive& d) const;
  Status PutNetworkInterface(const FcNetworkInterface& n) const;
  Status PutVsock(const FcVsock& v) const;
  Status PutMachineConfig(const FcMachineConfig& m) const;
  Status PutMetrics(const FcMetrics& m) const;
  Status Act(FcAction a) const;

  const std::string& api_socket() const { return api_socket_; }

 private:
  // Sends one request; the reply body on 2xx.
  Result<std::string> Call(const std::string& method, const std::string& path,
                           const std::string& body) const;
  std::string api_socket_;
  std::chrono::milliseconds timeout_;
};

}  // namespace banger::core
