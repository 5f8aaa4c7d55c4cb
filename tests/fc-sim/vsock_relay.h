// VsockRelay: Firecracker's hybrid vsock, host side. Binds uds_path (failing
// if the file exists, as Firecracker does); a host connection writes
// `CONNECT <port>\n`; if the guest side listens on that port (fc-sim: a UNIX
// socket <guest_dir>/<port>.sock) the relay answers `OK <host_port>\n` (host
// ports counting from 1<<30) and copies bytes both ways until either side
// closes; otherwise it closes the connection without a word. Before the
// guest runs, every connection is closed the same way.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "core/base/unique_fd.h"

namespace fcsim {

class VsockRelay {
 public:
  // Bytes relayed host->guest and guest->host, and connections opened.
  using Counter = std::function<void(const char* field, uint64_t n)>;

  VsockRelay(std::string guest_dir, Counter count)
      : guest_dir_(std::move(guest_dir)), count_(std::move(count)) {}
  ~VsockRelay();

  // Binds and listens on `uds_path`; error text on failure.
  std::string Bind(const std::string& uds_path);
  void SetGuestRunning(bool running) { running_ = running; }

 private:
  void AcceptLoop();
  void Serve(int fd);

  std::string guest_dir_;
  Counter count_;
  banger::core::UniqueFd listen_fd_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<uint32_t> next_host_port_{1u << 30};
};

}  // namespace fcsim
