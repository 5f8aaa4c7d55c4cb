#include "tests/fc-sim/vsock_relay.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fcsim {
namespace {

sockaddr_un Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return addr;
}

bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads the CONNECT line (at most 64 bytes, within 2 s). "" on failure.
std::string ReadRequestLine(int fd) {
  std::string line;
  char c;
  while (line.size() < 64) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return "";
    if (::read(fd, &c, 1) != 1) return "";
    if (c == '\n') return line;
    line.push_back(c);
  }
  return "";
}

}  // namespace

VsockRelay::~VsockRelay() {
  if (listen_fd_.valid()) ::shutdown(listen_fd_.get(), SHUT_RDWR);
  if (thread_.joinable()) thread_.detach();  // the process is exiting
}

std::string VsockRelay::Bind(const std::string& uds_path) {
  if (listen_fd_.valid()) return "";  // an update of the device: keep the socket
  banger::core::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = Address(uds_path);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd.get(), 64) != 0) {
    return std::string("Cannot create backend for vsock device: UnixBind: ") +
           std::strerror(errno) + " (os error " + std::to_string(errno) + ")";
  }
  listen_fd_ = std::move(fd);
  thread_ = std::thread([this] { AcceptLoop(); });
  return "";
}

void VsockRelay::AcceptLoop() {
  for (;;) {
    int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    std::thread([this, fd] { Serve(fd); }).detach();
  }
}

void VsockRelay::Serve(int host_fd) {
  banger::core::UniqueFd host(host_fd);
  std::string line = ReadRequestLine(host.get());
  unsigned port = 0;
  if (!running_ || guest_dir_.empty() || std::sscanf(line.c_str(), "CONNECT %u", &port) != 1) {
    return;  // closed with no reply, as Firecracker does
  }
  banger::core::UniqueFd guest(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = Address(guest_dir_ + "/" + std::to_string(port) + ".sock");
  if (::connect(guest.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    count_("conn_event_fails", 1);
    return;  // nobody listens on that port in the guest
  }
  std::string ok = "OK " + std::to_string(next_host_port_++) + "\n";
  if (!WriteAll(host.get(), ok.data(), ok.size())) return;
  count_("conns_added", 1);
  pollfd fds[2] = {{host.get(), POLLIN, 0}, {guest.get(), POLLIN, 0}};
  char buf[16384];
  bool open[2] = {true, true};
  while (open[0] || open[1]) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (!open[i] || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      int other = fds[1 - i].fd;
      if (n <= 0) {
        open[i] = false;
        fds[i].fd = -1;
        ::shutdown(other, SHUT_WR);  // pass the half-close on
        continue;
      }
      if (!WriteAll(other, buf, static_cast<size_t>(n))) {
        open[0] = open[1] = false;
        break;
      }
      count_(i == 0 ? "rx_bytes_count" : "tx_bytes_count", static_cast<uint64_t>(n));
      count_(i == 0 ? "rx_packets_count" : "tx_packets_count", 1);
    }
  }
  count_("conns_removed", 1);
}

}  // namespace fcsim
