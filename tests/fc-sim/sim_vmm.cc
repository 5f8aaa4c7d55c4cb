#include "tests/fc-sim/sim_vmm.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "tests/fc-sim/api_spec.h"

namespace fcsim {

using banger::core::HttpRequest;
using banger::core::HttpResponse;
using banger::core::JsonResponse;
using nlohmann::json;

namespace {

HttpResponse Fault(const std::string& message) {
  return JsonResponse(400, json{{"fault_message", message}}.dump());
}
HttpResponse NoContent() {
  return JsonResponse(204, "");
}

std::string OsError(int err) {
  return std::string(std::strerror(err)) + " (os error " + std::to_string(err) + ")";
}

constexpr const char* kAfterStart =
    "The requested operation is not supported after starting the microVM.";
constexpr const char* kBeforeStart =
    "The requested operation is not supported before starting the microVM.";

// The metrics counter a PUT is counted under ("drive" -> "drive_count").
std::string PutCounter(const std::string& what) {
  if (what == "boot-source") return "boot_source";
  if (what == "drives") return "drive";
  if (what == "network-interfaces") return "network";
  if (what == "machine-config") return "machine_cfg";
  return what;  // actions, logger, metrics, vsock
}

}  // namespace

SimVmm::SimVmm(SimOptions options) : options_(std::move(options)) {
  metrics_.SetStore("api_server", "process_startup_time_us", 3000);
  metrics_.SetStore("api_server", "process_startup_time_cpu_us", 1500);
  metrics_thread_ = std::thread([this] { MetricsLoop(); });
}

SimVmm::~SimVmm() {
  stopping_ = true;
  exit_cv_.notify_all();
  if (metrics_thread_.joinable()) metrics_thread_.join();
  if (burn_thread_.joinable()) burn_thread_.join();
  if (console_thread_.joinable()) console_thread_.join();
}

void SimVmm::AddRoutes(banger::core::RouteTable& routes) {
  auto delayed = [this](auto handler) {
    return [this, handler](const HttpRequest& req) {
      if (options_.api_delay_ms > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(options_.api_delay_ms));
      }
      return handler(req);
    };
  };
  // GET / answers at once even with --api-delay-ms: readiness is not what a
  // delay is for.
  routes.Add("GET", "/", [this](const HttpRequest&) {
    metrics_.Add("get_api_requests", "instance_info_count");
    std::lock_guard lock(mu_);
    json info{{"app_name", "Firecracker"},
              {"id", options_.id},
              {"state", running_ ? "Running" : "Not started"},
              {"vmm_version", "1.17.0-dev (fc-sim)"}};
    return JsonResponse(200, info.dump());
  });
  routes.Add("GET", "/machine-config", delayed([this](const HttpRequest&) {
               metrics_.Add("get_api_requests", "machine_cfg_count");
               std::lock_guard lock(mu_);
               json cfg{{"vcpu_count", vcpus_}, {"mem_size_mib", mem_mib_}, {"smt", false}};
               return JsonResponse(200, cfg.dump());
             }));
  for (const char* what :
       {"boot-source", "vsock", "machine-config", "metrics", "logger", "actions"}) {
    std::string w = what;
    routes.Add("PUT", "/" + w, delayed([this, w](const HttpRequest& req) { return Put(w, req); }));
  }
  routes.Add("PUT", "/drives/{id}",
             delayed([this](const HttpRequest& req) { return Put("drives", req); }));
  routes.Add("PUT", "/network-interfaces/{id}",
             delayed([this](const HttpRequest& req) { return Put("network-interfaces", req); }));
  routes.SetUnmatched(delayed([](const HttpRequest& req) {
    return Fault("Invalid request method and/or path: " + req.method + " " + req.path + ".");
  }));
}

HttpResponse SimVmm::Put(const std::string& what, const HttpRequest& req) {
  HttpResponse r = [&] {
    json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) {
      return Fault(
          "An error occurred when deserializing the json body of a request: "
          "expected value at line 1 column 1.");
    }
    static const std::map<std::string, std::string> kDefinition = {
        {"boot-source", "BootSource"},
        {"drives", "Drive"},
        {"network-interfaces", "NetworkInterface"},
        {"vsock", "Vsock"},
        {"machine-config", "MachineConfiguration"},
        {"metrics", "Metrics"},
        {"logger", "Logger"},
        {"actions", "InstanceActionInfo"}};
    if (auto bad = ApiSpec::BuiltIn().Validate(kDefinition.at(what), body)) {
      return Fault("An error occurred when deserializing the json body of a request: " + *bad +
                   ".");
    }
    return Dispatch(what, body, req);
  }();
  std::string counter = PutCounter(what);
  metrics_.Add("put_api_requests", counter + "_count");
  if (r.status != 204) metrics_.Add("put_api_requests", counter + "_fails");
  return r;
}

HttpResponse SimVmm::Dispatch(const std::string& what, const json& body, const HttpRequest& req) {
  if (what == "actions") return Action(body);
  if (what == "metrics") return Metrics(body);
  if (what == "logger") return Logger(body);
  {
    std::lock_guard lock(mu_);
    if (running_) return Fault(kAfterStart);  // everything else is pre-boot only
  }
  if (what == "boot-source") return BootSource(body);
  if (what == "drives") return Drive(req.params.at("id"), body);
  if (what == "network-interfaces") return NetworkInterface(req.params.at("id"), body);
  if (what == "vsock") return Vsock(body);
  return MachineConfig(body);
}

HttpResponse SimVmm::BootSource(const json& body) {
  // Firecracker opens the kernel (and initrd) when the request arrives.
  std::string kernel = body["kernel_image_path"];
  banger::core::UniqueFd fd(::open(kernel.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Fault("The kernel file cannot be opened: " + OsError(errno));
  if (body.contains("initrd_path")) {
    std::string initrd = body["initrd_path"];
    banger::core::UniqueFd ifd(::open(initrd.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ifd.valid()) return Fault("The initrd file cannot be opened: " + OsError(errno));
  }
  std::lock_guard lock(mu_);
  boot_args_ = body.value("boot_args", "");
  kernel_fd_ = std::move(fd);
  has_boot_source_ = true;
  return NoContent();
}

HttpResponse SimVmm::Drive(const std::string& id, const json& body) {
  if (body["drive_id"] != id) {
    return Fault("The id from the path [" + id + "] does not match the id from the body [" +
                 body["drive_id"].get<std::string>() + "]!");
  }
  if (!body.contains("path_on_host")) {
    return Fault("Unable to create the block device: path_on_host is required for virtio-block");
  }
  std::string path = body["path_on_host"];
  bool read_only = body.value("is_read_only", false);
  banger::core::UniqueFd fd(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!fd.valid()) {
    return Fault("Unable to create the block device: BackingFile(" + OsError(errno) + ", \"" +
                 path + "\")");
  }
  std::lock_guard lock(mu_);
  if (body["is_root_device"].get<bool>()) {
    if (!root_drive_.empty() && root_drive_ != id) {
      return Fault("A root block device already exists!");
    }
    root_drive_ = id;
  }
  drives_[id] = std::move(fd);
  metrics_.AddDevice("block", id);
  return NoContent();
}

HttpResponse SimVmm::NetworkInterface(const std::string& id, const json& body) {
  if (body["iface_id"] != id) {
    return Fault("The id from the path [" + id + "] does not match the id from the body [" +
                 body["iface_id"].get<std::string>() + "]!");
  }
  std::string dev = body["host_dev_name"];
  auto fail = [&](int err) {
    return Fault(
        "Could not create the network device: Open tap device failed: Error while "
        "creating ifreq structure: " +
        OsError(err) + ". Invalid TUN/TAP Backend provided by " + dev +
        ". Check our documentation on setting up the network devices.");
  };
  if (dev.empty() || dev.size() >= IFNAMSIZ) return fail(EINVAL);
  // Firecracker runs unprivileged (jailer): it can open an existing tap but
  // not create one, so a missing tap fails here too, even when run as root.
  if (::if_nametoindex(dev.c_str()) == 0) return fail(ENODEV);
  banger::core::UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return fail(errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, dev.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) return fail(errno);  // EBUSY: held elsewhere
  std::lock_guard lock(mu_);
  taps_[id] = std::move(fd);
  metrics_.AddDevice("net", id);
  return NoContent();
}

HttpResponse SimVmm::Vsock(const json& body) {
  std::lock_guard lock(mu_);
  if (!vsock_) {
    vsock_ = std::make_unique<VsockRelay>(
        options_.guest_vsock_dir,
        [this](const char* f, uint64_t n) { metrics_.Add("vsock", f, n); });
  }
  std::string error = vsock_->Bind(body["uds_path"]);
  if (!error.empty()) {
    vsock_.reset();
    return Fault(error);
  }
  return NoContent();
}

HttpResponse SimVmm::MachineConfig(const json& body) {
  std::lock_guard lock(mu_);
  vcpus_ = body["vcpu_count"];
  mem_mib_ = body["mem_size_mib"];
  return NoContent();
}

HttpResponse SimVmm::Metrics(const json& body) {
  std::map<std::string, std::string> properties;
  if (body.contains("properties")) properties = body["properties"].get<decltype(properties)>();
  std::string error =
      metrics_.Open(body["metrics_path"], body.value("emit_id", false), options_.id, properties);
  return error.empty() ? NoContent() : Fault(error);
}

HttpResponse SimVmm::Logger(const json& body) {
  if (body.contains("log_path")) {
    std::string path = body["log_path"];
    banger::core::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid()) return Fault("Cannot open the log file: " + OsError(errno));
  }
  return NoContent();
}

HttpResponse SimVmm::Action(const json& body) {
  std::string action = body["action_type"];
  if (action == "FlushMetrics") {
    if (!metrics_.Flush()) {
      return Fault("Failed to flush metrics: the metrics system is not initialized.");
    }
    return NoContent();
  }
  std::unique_lock lock(mu_);
  if (action == "InstanceStart") {
    if (running_) return Fault(kAfterStart);
    if (!has_boot_source_) {
      return Fault("Start microvm error: Cannot start microvm without kernel configuration.");
    }
    running_ = true;
    lock.unlock();
    StartGuest();
    return NoContent();
  }
  // SendCtrlAltDel
  if (!running_) return Fault(kBeforeStart);
  metrics_.Add("i8042", "write_count");
  if (!options_.ignore_ctrl_alt_del) {
    Console("reboot: Restarting system\n");
    // The guest reboots, and Firecracker exits: a moment after this answer.
    std::thread([this] {
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.exit_delay_ms));
      std::lock_guard l(mu_);
      exit_requested_ = true;
      exit_cv_.notify_all();
    }).detach();
  }
  return NoContent();
}

void SimVmm::Console(const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) return;  // nobody reads the console: the guest goes on
    done += static_cast<size_t>(n);
  }
}

void SimVmm::StartGuest() {
  Console(
      "[    0.000000] Linux version 6.1.0-fc-sim (banger fc-sim) #1 SMP\n"
      "[    0.000000] Command line: " +
      boot_args_ + "\n[    0.000000] Memory: " + std::to_string(mem_mib_) + "MiB, " +
      std::to_string(vcpus_) + " vCPUs\n[    0.100000] Run /sbin/init as init process\n" +
      options_.id + " login: \n");
  if (options_.console_bytes_per_s > 0 || options_.poweroff_after_ms > 0) {
    console_thread_ = std::thread([this] { ConsoleLoop(); });
  }
  if (vsock_) vsock_->SetGuestRunning(true);
  if (options_.hold_mib > 0) {
    // Touch every page so the memory is resident, as a guest's would be.
    held_memory_.assign(static_cast<size_t>(options_.hold_mib) << 20, 1);
  }
  if (options_.burn_cpu_percent > 0) burn_thread_ = std::thread([this] { BurnLoop(); });
}

void SimVmm::ConsoleLoop() {
  using clock = std::chrono::steady_clock;
  const auto began = clock::now();
  const auto tick = std::chrono::milliseconds(100);
  uint64_t line = 0;
  std::unique_lock lock(mu_);
  while (!stopping_ && !exit_requested_) {
    exit_cv_.wait_for(lock, tick);
    if (stopping_ || exit_requested_) break;
    if (options_.poweroff_after_ms > 0 &&
        clock::now() - began >= std::chrono::milliseconds(options_.poweroff_after_ms)) {
      lock.unlock();
      Console("reboot: Power down\n");
      lock.lock();
      exit_requested_ = true;  // Firecracker exits when its guest powers off
      exit_cv_.notify_all();
      break;
    }
    lock.unlock();
    std::string text;
    while (text.size() < static_cast<size_t>(options_.console_bytes_per_s) / 10) {
      text += "[ " + std::to_string(++line) + "] console line of the guest, for the log\n";
    }
    Console(text);
    lock.lock();
  }
}

void SimVmm::BurnLoop() {
  using clock = std::chrono::steady_clock;
  const auto period = std::chrono::milliseconds(10);
  const auto busy = period * options_.burn_cpu_percent / 100;
  volatile uint64_t sink = 0;
  while (!stopping_) {
    auto start = clock::now();
    while (clock::now() - start < busy) sink = sink + 1;
    metrics_.Add("vcpu", "exit_mmio_read", 10);
    std::this_thread::sleep_for(period - busy);
  }
}

void SimVmm::MetricsLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    exit_cv_.wait_for(lock, std::chrono::milliseconds(options_.metrics_interval_ms));
    if (stopping_) break;
    lock.unlock();
    metrics_.Flush();  // no-op until PUT /metrics
    lock.lock();
  }
}

void SimVmm::WaitForExit() {
  std::unique_lock lock(mu_);
  exit_cv_.wait(lock, [this] { return exit_requested_; });
}

}  // namespace fcsim
