#include "core/vmm/firecracker_client.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "core/base/unique_fd.h"
#include "core/base/unix_http_client.h"

namespace banger::core {

using nlohmann::json;

std::string BootSourceBody(const FcBootSource& b) {
  json j{{"kernel_image_path", b.kernel_image_path}};
  if (!b.boot_args.empty()) j["boot_args"] = b.boot_args;
  if (!b.initrd_path.empty()) j["initrd_path"] = b.initrd_path;
  return j.dump();
}

std::string DriveBody(const FcDrive& d) {
  return json{{"drive_id", d.drive_id},
              {"path_on_host", d.path_on_host},
              {"is_root_device", d.is_root_device},
              {"is_read_only", d.is_read_only}}
      .dump();
}

std::string NetworkInterfaceBody(const FcNetworkInterface& n) {
  json j{{"iface_id", n.iface_id}, {"host_dev_name", n.host_dev_name}};
  if (!n.guest_mac.empty()) j["guest_mac"] = n.guest_mac;
  return j.dump();
}

std::string VsockBody(const FcVsock& v) {
  return json{{"guest_cid", v.guest_cid}, {"uds_path", v.uds_path}}.dump();
}

std::string MachineConfigBody(const FcMachineConfig& m) {
  return json{{"vcpu_count", m.vcpu_count}, {"mem_size_mib", m.mem_size_mib}, {"smt", m.smt}}
      .dump();
}

std::string MetricsBody(const FcMetrics& m) {
  return json{{"metrics_path", m.metrics_path}}.dump();
}

std::string ActionBody(FcAction a) {
  const char* name = a == FcAction::kInstanceStart    ? "InstanceStart"
                     : a == FcAction::kSendCtrlAltDel ? "SendCtrlAltDel"
                                                      : "FlushMetrics";
  return json{{"action_type", name}}.dump();
}

Result<std::string> FirecrackerClient::Call(const std::string& method, const std::string& path,
                                            const std::string& body) const {
  const std::string what = "firecracker " + method + " " + path;
  // A jailed VMM owns the directory its socket is in: it could put a
  // symlink there (to another service's socket) for root to connect to.
  // The socket is pinned without following a link, and connected to
  // through the descriptor (/proc/self/fd/N names that very inode).
  UniqueFd pinned(::open(api_socket_.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  std::string target = api_socket_;
  if (pinned.valid()) {
    struct stat st;
    // (O_PATH|O_NOFOLLOW opens a symlink itself rather than failing.)
    if (::fstat(pinned.get(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
      return Status::Error(what + ": " + api_socket_ + " is " +
                           (S_ISLNK(st.st_mode) ? "a symbolic link" : "not a socket") +
                           "; refusing it");
    }
    target = "/proc/self/fd/" + std::to_string(pinned.get());
  }
  HttpCallResult r = UnixHttpCall(target, method, path, body, timeout_);
  switch (r.failure) {
    case HttpFailure::kNone:
      break;
    case HttpFailure::kNoSocket:
      return Status::Unavailable(what + ": no API socket at " + api_socket_ +
                                 " (is the VMM running?)");
    case HttpFailure::kRefused:
      return Status::Unavailable(what + ": connection refused on " + api_socket_ +
                                 " (the VMM is not listening)");
    case HttpFailure::kTimeout:
      return Status::Error(what + ": no reply within " + std::to_string(timeout_.count()) + " ms");
    case HttpFailure::kClosed:
      return Status::Error(what + ": the VMM closed the connection mid-call (did it exit?)");
    case HttpFailure::kOther:
      return Status::Error(what + ": " + r.error);
  }
  if (r.reply.status >= 200 && r.reply.status < 300) return r.reply.body;
  json j = json::parse(r.reply.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("fault_message") && j["fault_message"].is_string()) {
    return Status::Invalid(what + ": " + j["fault_message"].get<std::string>());
  }
  return Status::Error(what + ": HTTP " + std::to_string(r.reply.status) +
                       " without a fault_message");
}

Result<FcInstanceInfo> FirecrackerClient::GetInstanceInfo() const {
  auto body = Call("GET", "/", "");
  if (!body) return body.status();
  json j = json::parse(*body, nullptr, false);
  if (!j.is_object() || !j.contains("state") || !j["state"].is_string()) {
    return Status::Error("firecracker GET /: the reply is not an InstanceInfo object");
  }
  return FcInstanceInfo{j.value("id", ""), j["state"], j.value("vmm_version", "")};
}

namespace {
Status Done(const Result<std::string>& r) {
  return r ? Status::Ok() : r.status();
}
}  // namespace

Status FirecrackerClient::PutBootSource(const FcBootSource& b) const {
  return Done(Call("PUT", "/boot-source", BootSourceBody(b)));
}
Status FirecrackerClient::PutDrive(const FcDrive& d) const {
  return Done(Call("PUT", "/drives/" + d.drive_id, DriveBody(d)));
}
Status FirecrackerClient::PutNetworkInterface(const FcNetworkInterface& n) const {
  return Done(Call("PUT", "/network-interfaces/" + n.iface_id, NetworkInterfaceBody(n)));
}
Status FirecrackerClient::PutVsock(const FcVsock& v) const {
  return Done(Call("PUT", "/vsock", VsockBody(v)));
}
Status FirecrackerClient::PutMachineConfig(const FcMachineConfig& m) const {
  return Done(Call("PUT", "/machine-config", MachineConfigBody(m)));
}
Status FirecrackerClient::PutMetrics(const FcMetrics& m) const {
  return Done(Call("PUT", "/metrics", MetricsBody(m)));
}
Status FirecrackerClient::Act(FcAction a) const {
  return Done(Call("PUT", "/actions", ActionBody(a)));
}

}  // namespace banger::core
