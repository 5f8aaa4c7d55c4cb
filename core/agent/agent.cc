#include "core/agent/agent.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "banger/capability.h"
#include "core/api/metrics_exposition.h"
#include "core/api/peer_credentials.h"
#include "core/api/vm_routes.h"
#include "core/base/version.h"
#include "core/lifecycle/vm_view.h"
#include "core/plugin_host/capability_report.h"
#include "core/vmm/jail.h"
#include "core/vmm/vmm_process.h"

// Where banger-vmm-log is installed (CMake sets it from the install prefix).
#ifndef BANGER_LIBEXEC_DIR
#define BANGER_LIBEXEC_DIR "/usr/local/libexec/banger"
#endif

namespace banger::core {

Agent::Agent(AgentConfig config, Logger& logger) : config_(std::move(config)), logger_(logger) {}

Agent::~Agent() {
  Stop();
}

Status Agent::Start() {
  started_ = std::chrono::steady_clock::now();
  LogVersionAndVmm();
  if (Status s = OpenState(); !s) return s;
  if (Status s = LoadCapabilities(); !s) return s;
  // Before serving: whatever happened while the agent was away is settled.
  int changed = lifecycle_->Reconcile(/*at_start=*/true);
  logger_.Info("core", "reconcile at start: " + std::to_string(store_->List().records.size()) +
                           " VMs, " + std::to_string(changed) + " changed");
  lifecycle_->StartWatching();
  if (Status s = Serve(); !s) return s;
  StartBackgroundWork();
  logger_.Info("core", "serving the control API on " + config_.socket_path + " with " +
                           std::to_string(dispatcher_->Running().size()) + " capabilities");
  return Status::Ok();
}

void Agent::LogVersionAndVmm() {
  logger_.Info("core", std::string("bangerd ") + kBangerVersion + " (capability ABI " +
                           std::to_string(BANGER_ABI_MAJOR) + "." +
                           std::to_string(BANGER_ABI_MINOR) + "), config " +
                           (config_.source.empty() ? "(built-in defaults)" : config_.source));
  if (auto vmm = ResolveVmmBinary(config_.vmm_binary); vmm) {
    bool stand_in = std::filesystem::path(*vmm).filename() != "firecracker";
    logger_.Info("core", "VMM binary: " + *vmm +
                             (stand_in ? " (not Firecracker: a stand-in, for tests and the dev "
                                         "profile)"
                                       : ""));
  } else {
    logger_.Warn("core", vmm.status().message() + "; VMs cannot start until it is fixed");
  }
}

namespace {

// "N VM directories under <state_dir>/vms" when there are any: the store
// held VMs, whatever its file now says.
std::string VmDirectoriesEvidence(const std::string& state_dir) {
  std::error_code ec;
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(state_dir + "/vms", ec)) {
    if (e.is_directory(ec) && IsVmId(e.path().filename().string())) ++n;
  }
  if (n == 0) return "";
  return std::to_string(n) + " VM director" + (n == 1 ? "y" : "ies") + " under " + state_dir +
         "/vms";
}

}  // namespace

Status Agent::OpenState() {
  std::error_code ec;
  std::filesystem::create_directories(config_.state_dir, ec);
  if (ec) return Status::Error("state dir " + config_.state_dir + ": " + ec.message());
  ::chmod(config_.state_dir.c_str(), 0700);
  auto lock = StateDirLock::Acquire(config_.state_dir);
  if (!lock) return lock.status();
  lock_ = std::move(lock.value());
  auto store = VmStore::Open({config_.state_dir + "/store", config_.store_map_size_mib << 20,
                              VmDirectoriesEvidence(config_.state_dir)});
  if (!store) return store.status();
  store_ = std::move(store.value());
  copies_ = std::make_unique<StoreCopies>(StoreCopiesDir(config_), config_.store_copies_keep);
  copies_->SweepPartial();
  handles_ = std::make_unique<HandleStore>(*store_);
  backend_ = std::make_unique<LifecycleBackend>(*store_, *handles_);
  return Status::Ok();
}

std::vector<std::string> Agent::ImageDirs() const {
  // Resolved once: an image's real path must lie under one.
  std::vector<std::string> dirs;
  for (const auto& d : config_.image_dirs) {
    char* real = ::realpath(d.c_str(), nullptr);
    if (real == nullptr) {
      logger_.Warn("core", "core.image_dirs: " + d + " does not exist; ignored");
      continue;
    }
    dirs.emplace_back(real);
    std::free(real);
  }
  return dirs;
}

Result<VmmJailOptions> Agent::JailOptions() const {
  VmmJailOptions jail;
  if (config_.jailer_binary.empty()) return jail;
  const std::string where = "[core] jailer_binary = " + config_.jailer_binary + ": ";
  if (::geteuid() != 0)
    return Status::Invalid(where + "jailing VMMs needs the agent to run as root");
  if (auto j = ResolveVmmBinary(config_.jailer_binary); !j) {
    return j.status().Prefixed(where + "the jailer");
  }
  jail.jailer = config_.jailer_binary;
  jail.chroot_base =
      config_.chroot_base.empty() ? config_.state_dir + "/jail" : config_.chroot_base;
  jail.uid_first = config_.jailer_uid_first;
  jail.uid_last = config_.jailer_uid_last;
  jail.cgroup_version = config_.cgroup_version;
  if (jail.cgroup_version == 0) {
    auto version = DetectCgroupVersion(CgroupMounts());
    if (!version) return version.status();
    jail.cgroup_version = *version;
  }
  std::error_code ec;
  std::filesystem::create_directories(jail.chroot_base, ec);
  if (ec) return Status::Error("[core] chroot_base " + jail.chroot_base + ": " + ec.message());
  // Jails hold hard links to the VM's disks: one file system for both.
  struct stat base, state;
  if (::stat(jail.chroot_base.c_str(), &base) != 0 ||
      ::stat(config_.state_dir.c_str(), &state) != 0 || base.st_dev != state.st_dev) {
    return Status::Invalid("[core] chroot_base " + jail.chroot_base +
                           " is not on the file system of state_dir " + config_.state_dir +
                           ": jails hard-link the VMs' disks, which cannot cross file systems; "
                           "put it on the same one");
  }
  return jail;
}

Result<std::string> Agent::FindVmmLogWriter() const {
  // Next to bangerd (the build tree), else where it is installed.
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  std::vector<std::string> tried;
  if (!ec) tried.push_back((self.parent_path() / "banger-vmm-log").string());
  tried.push_back(std::string(BANGER_LIBEXEC_DIR) + "/banger-vmm-log");
  for (const auto& path : tried) {
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return Status::Error("banger-vmm-log (which writes each VM's console log) is not in " +
                       tried.front() + (tried.size() > 1 ? " nor " + tried.back() : "") +
                       "; reinstall banger");
}

Status Agent::LoadCapabilities() {
  PluginFilePolicy policy{config_.allow_plugin_symlinks, ::geteuid()};
  registry_ = PluginRegistry::Discover(config_, policy);
  for (const auto& w : registry_->warnings()) logger_.Warn("core", w);
  host_table_ = std::make_unique<HostTable>(logger_, verbs_);
  host_table_->AttachVmBackend(backend_.get());
  host_table_->SetStateRoot(config_.state_dir + "/capabilities");
  dispatcher_ = std::make_unique<HookDispatcher>(*registry_, *host_table_, logger_);
  ops_ = std::make_unique<OperationLog>(logger_);
  auto jail = JailOptions();
  if (!jail) return jail.status();
  auto log_writer = FindVmmLogWriter();
  if (!log_writer) return log_writer.status();
  VmLifecycleOptions options{config_.state_dir,
                             config_.vmm_binary,
                             config_.vmm_ready_timeout,
                             config_.vmm_stop_timeout,
                             config_.vmm_api_timeout,
                             ImageDirs(),
                             *jail,
                             *log_writer,
                             config_.console_log_max_bytes,
                             static_cast<int>(config_.console_log_keep)};
  lifecycle_ = std::make_unique<VmLifecycle>(std::move(options), *store_, *handles_, *dispatcher_,
                                             *ops_, logger_);
  backend_->AttachLifecycle(lifecycle_.get());
  RestoreDraining();
  backend_->AttachRediscoverer(
      [this](const std::string& capability, const VmRecord& vm, const std::string& key) {
        return dispatcher_->Rediscover(capability, MakeVmView(vm), key);
      });
  started_ok_ = true;  // from here on, Stop has shutdown hooks to run
  return dispatcher_->InitAll();
}

Status Agent::Serve() {
  PeerPolicy peers{::geteuid(), std::nullopt};
  if (!config_.socket_group.empty()) {
    peers.group = LookupGroup(config_.socket_group);
    if (!peers.group) return Status::Error("core.socket_group: no group " + config_.socket_group);
  }
  AddRoutes();
  ControlServer::Limits limits;
  limits.head_timeout = config_.api_head_timeout;
  limits.body_timeout = config_.api_body_timeout;
  limits.max_connections_per_uid = config_.api_connections_per_uid;
  server_ = std::make_unique<ControlServer>(routes_, peers, logger_, limits);
  if (Status s = server_->Listen(config_.socket_path); !s) return s;
  server_->Start();
  if (config_.metrics_listen.empty()) return Status::Ok();
  metrics_routes_.Add("GET", "/metrics", [this](const HttpRequest&) {
    return JsonResponse(200, PrometheusText(store_->List(), *registry_, host_table_->figures()),
                        "text/plain; version=0.0.4");
  });
  metrics_server_ = std::make_unique<ControlServer>(metrics_routes_, peers, logger_);
  if (Status s = metrics_server_->ListenLoopbackTcp(config_.metrics_listen); !s) {
    return s.Prefixed("core.metrics_listen");
  }
  metrics_server_->Start();
  logger_.Info("core", "serving Prometheus text at http://" + config_.metrics_listen + "/metrics");
  return Status::Ok();
}

void Agent::StartBackgroundWork() {
  ticks_ = std::make_unique<TickScheduler>(*dispatcher_, logger_);
  ticks_->Start();
  reconciler_ = std::make_unique<PeriodicTask>(config_.reconcile_interval, [this] {
    if (int n = lifecycle_->Reconcile(/*at_start=*/false); n > 0) {
      logger_.Info("core", "reconcile: " + std::to_string(n) + " VMs changed");
    }
  });
  // At once, then every interval: the first asks the API of every VMM that
  // reconcile at start re-adopted by its PID alone.
  reconciler_->Start(std::chrono::milliseconds(0));
  if (config_.store_copy_interval.count() > 0) {
    copier_ = std::make_unique<PeriodicTask>(config_.store_copy_interval,
                                             [this] { TakeStoreCopy("interval"); });
    copier_->Start();
  }
}

void Agent::TakeStoreCopy(const char* why) {
  // A copy holds what is committed: changes written behind first.
  if (Status s = store_->Flush(); !s) {
    logger_.Warn("core", "store copy (" + std::string(why) + "): flush: " + s.message());
  }
  auto copy = copies_->Take(*store_);
  if (!copy) {
    logger_.Error("core", "store copy (" + std::string(why) + "): " + copy.status().message() +
                              "; the store itself is unchanged");
    return;
  }
  logger_.Info("core", "store copy (" + std::string(why) + "): " + copy->dir);
}

void Agent::Stop() {
  if (!started_ok_) return;
  started_ok_ = false;
  if (copier_) copier_->Stop();
  if (reconciler_) reconciler_->Stop();
  if (ticks_) ticks_->Stop();
  if (metrics_server_) metrics_server_->Stop();
  if (server_) server_->Stop();
  if (lifecycle_) lifecycle_->StopWatching();
  dispatcher_->ShutdownAll();
  // Nothing writes any more: the copy is the store as this agent leaves it.
  TakeStoreCopy("shutdown");
  logger_.Info("core", "stopped");
}

Status Agent::Alive(std::chrono::milliseconds timeout) const {
  if (!server_ || !server_->Responsive(timeout)) {
    return Status::Error("the control socket's I/O thread did not answer within " +
                         std::to_string(timeout.count()) + " ms");
  }
  if (metrics_server_ && !metrics_server_->Responsive(timeout)) {
    return Status::Error("the metrics listener's I/O thread did not answer within " +
                         std::to_string(timeout.count()) + " ms");
  }
  // A read transaction: NOT_FOUND is the answer expected.
  if (auto probe = store_->Get("liveness-probe"); probe.ok()) {
    return Status::Error("the store answered a read of a record that cannot exist");
  }
  return Status::Ok();
}

std::string Agent::Summary() const {
  VmListing vms = store_->List();
  size_t running = 0;
  for (const auto& r : vms.records) running += r->state == VmState::kRunning;
  return "serving " + std::to_string(vms.records.size()) + " VMs (" + std::to_string(running) +
         " running) with " + std::to_string(dispatcher_->Running().size()) + " capabilities";
}

HttpResponse Agent::RunCommand(const std::string& name, const std::string& verb,
                               const std::string& body) {
  if (registry_->Find(name) == nullptr) {
    return ErrorResponse(404, "no capability named '" + name + "' (bangerctl caps lists them)");
  }
  if (!verbs_.FindCommand(name, verb)) {
    std::string known;
    for (const auto& c : verbs_.CommandsOf(name)) known += (known.empty() ? "" : ", ") + c.verb;
    return ErrorResponse(404, "capability " + name + " has no command '" + verb +
                                  "'; its commands: " + (known.empty() ? "none" : known));
  }
  std::string args = body.empty() ? "{}" : body;
  if (!nlohmann::json::accept(args)) {
    return ErrorResponse(400, name + " " + verb + ": the body must be JSON");
  }
  auto reply = dispatcher_->Command(name, verb, args);
  if (!reply) return ErrorResponse(409, reply.status().message());
  if (!nlohmann::json::accept(*reply)) {
    return ErrorResponse(500, name + " answered " + verb + " with text that is not JSON");
  }
  return JsonResponse(200, *reply + "\n");
}

void Agent::AddRoutes() {
  routes_.Add("GET", "/v1/capabilities", [this](const HttpRequest&) {
    return JsonResponse(200, CapabilitiesReport(*registry_, &verbs_, /*offline=*/false));
  });
  routes_.Add("GET", "/v1/capabilities/{name}", [this](const HttpRequest& req) {
    Plugin* p = registry_->Find(req.params.at("name"));
    if (p == nullptr) {
      return ErrorResponse(
          404, "no capability named '" + req.params.at("name") + "' (bangerctl caps lists them)");
    }
    return JsonResponse(200, CapabilityReport(*p, &verbs_));
  });
  routes_.Add("POST", "/v1/capabilities/{name}/{verb}", [this](const HttpRequest& req) {
    return RunCommand(req.params.at("name"), req.params.at("verb"), req.body);
  });
  AddVmRoutes(routes_, *lifecycle_, *store_, verbs_, *ops_,
              static_cast<int>(config_.console_log_keep));
  routes_.Add("GET", "/v1/metrics", [this](const HttpRequest&) {
    return JsonResponse(200, PrometheusText(store_->List(), *registry_, host_table_->figures()),
                        "text/plain; version=0.0.4");
  });
  AddHostRoutes();
  routes_.Add("GET", "/v1/info", [this](const HttpRequest&) {
    auto up = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                               started_)
                  .count();
    nlohmann::json j{
        {"version", kBangerVersion},
        {"abi", std::to_string(BANGER_ABI_MAJOR) + "." + std::to_string(BANGER_ABI_MINOR)},
        {"pid", ::getpid()},
        {"uptime_s", up},
        {"state_dir", config_.state_dir},
        {"socket", config_.socket_path},
        {"config", config_.source},
        {"store_commits", store_->commits()},
        {"plugin_dirs", config_.plugin_dirs}};
    return JsonResponse(200, j.dump(2) + "\n");
  });
}

}  // namespace banger::core
