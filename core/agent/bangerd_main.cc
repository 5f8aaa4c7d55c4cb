// bangerd: the banger host agent. Reads its config, loads capabilities,
// serves the control socket until SIGTERM or SIGINT.
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>

#include "banger/capability.h"
#include "core/agent/agent.h"
#include "core/agent/agent_config.h"
#include "core/agent/man_pages.h"
#include "core/base/periodic_task.h"
#include "core/base/service_notifier.h"
#include "core/base/version.h"
#include "core/lifecycle/store_recovery.h"
#include "core/plugin_host/plugin_registry.h"
#include "core/store/state_dir_lock.h"
#include "core/store/vm_store.h"

namespace po = boost::program_options;

namespace banger::core {
namespace {

// Exit codes: 0 ok, 1 the agent cannot run, 2 usage.
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

std::string Absolute(const std::string& path) {
  return path.empty() ? path : std::filesystem::absolute(path).lexically_normal().string();
}

po::options_description Flags() {
  po::options_description flags("bangerd: the banger host agent\n\nOptions");
  flags.add_options()("help,h", "show this help and exit")("version", "print the version and exit")(
      "config,c", po::value<std::string>(),
      "config file (default: /etc/banger/bangerd.conf if it exists, else built-in defaults)")(
      "state-dir", po::value<std::string>(), "override [core] state_dir")(
      "socket", po::value<std::string>(), "override [core] socket")(
      "socket-group", po::value<std::string>(), "override [core] socket_group")(
      "plugin-dir", po::value<std::vector<std::string>>(),
      "override [core] plugin_dirs (repeat for several)")(
      "log-level", po::value<std::string>(), "override [core] log_level (debug|info|warn|error)")(
      "log-format", po::value<std::string>(), "override [core] log_format (text|json)")(
      "vmm-binary", po::value<std::string>(), "override [core] vmm_binary")(
      "check-config",
      "parse the config, load every enabled capability's file (no init: nothing on the host "
      "changes), check its section's keys and its dependencies, print one line each; exit 1 "
      "when one would not run")(
      "recover-store",
      "with the agent stopped: rebuild the store from its newest good copy, then from the VM "
      "directories and running VMMs; report each VM; the old store is kept aside")(
      "force", "with --recover-store: also when the store itself opens and reads whole")(
      "man", po::value<std::string>()->value_name("PAGE"),
      "print a manual page in roff: bangerd.8, or bangerd.conf.5 (with the capabilities in "
      "the plugin dirs)");
  return flags;
}

// The config file (--config, else the default path if it exists, else the
// built-in defaults) with the command line's overrides, paths made absolute
// from the directory bangerd was started in, and checked against the host.
// On failure, the exit code and its message.
Result<AgentConfig> ConfigFromFlags(const po::variables_map& vm, int* exit_code) {
  *exit_code = kExitFailure;
  std::string config_path;
  if (vm.count("config")) {
    config_path = vm["config"].as<std::string>();
  } else if (std::filesystem::exists(kDefaultConfigPath)) {
    config_path = kDefaultConfigPath;
  }
  Result<AgentConfig> loaded =
      config_path.empty() ? ParseAgentConfig("", "") : LoadAgentConfigFile(config_path);
  if (!loaded) return loaded;
  AgentConfig config = std::move(loaded.value());
  if (vm.count("state-dir")) config.state_dir = vm["state-dir"].as<std::string>();
  if (vm.count("socket")) config.socket_path = vm["socket"].as<std::string>();
  if (vm.count("socket-group")) config.socket_group = vm["socket-group"].as<std::string>();
  if (vm.count("vmm-binary")) config.vmm_binary = vm["vmm-binary"].as<std::string>();
  if (vm.count("plugin-dir")) config.plugin_dirs = vm["plugin-dir"].as<std::vector<std::string>>();
  if (vm.count("log-level")) {
    auto level = ParseLogLevel(vm["log-level"].as<std::string>());
    if (!level) {
      *exit_code = kExitUsage;
      return Status::Invalid("--log-level: use debug, info, warn or error");
    }
    config.log_level = *level;
  }
  if (vm.count("log-format")) {
    auto format = ParseLogFormat(vm["log-format"].as<std::string>());
    if (!format) {
      *exit_code = kExitUsage;
      return Status::Invalid("--log-format: use text or json");
    }
    config.log_format = *format;
  }
  config.state_dir = Absolute(config.state_dir);
  config.socket_path = Absolute(config.socket_path);
  for (auto& d : config.plugin_dirs) d = Absolute(d);
  if (config.vmm_binary.find('/') != std::string::npos) {
    config.vmm_binary = Absolute(config.vmm_binary);
  }
  if (Status s = ValidateAgentConfig(config); !s) return s;
  return config;
}

// The process set-up a long-running agent wants. Returns the shutdown
// signals, blocked in this thread and so in every thread the agent starts
// (children get a clean mask: RunProcess, LaunchVmm); sigwait takes them.
sigset_t PrepareProcess() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Every connection is served on a thread of its own; glibc would give such
  // threads up to 8 arenas per core, each keeping what a large reply (a
  // listing of 1,000 VMs is ~1.5 MB of JSON) freed. Two arenas keep the
  // agent's RSS near its live data (1,000 running VMs: 112 MiB -> 36 MiB,
  // build/bench/scale_bench) at no cost in throughput. MALLOC_ARENA_MAX in
  // the environment still decides when set.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);

  // Capabilities keep files open per VM (stats keeps three): lift the soft
  // descriptor limit to the hard one, as long-running daemons do.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  return stop_signals;
}

// --recover-store: under the state dir's lock (no agent may run), rebuilds
// the store and prints what became of each VM.
int RecoverStoreCommand(const AgentConfig& config, bool force) {
  auto lock = StateDirLock::Acquire(config.state_dir);
  if (!lock) {
    std::cerr << "bangerd: --recover-store: " << lock.status().message()
              << " (stop the agent first)\n";
    return kExitFailure;
  }
  if (!force) {
    // A store that opens and reads whole is newer than any copy: replacing
    // it would lose what happened since.
    VmStore::Options options;
    options.dir = config.state_dir + "/store";
    options.read_only = true;
    auto store = VmStore::Open(options);
    if (store && (*store)->List().corrupt.empty()) {
      std::cerr << "bangerd: --recover-store: the store in " << options.dir
                << " opens and every record reads (" << (*store)->List().records.size()
                << " VMs): a copy is older than it; nothing was changed (add --force to rebuild "
                   "it anyway)\n";
      return kExitFailure;
    }
  }
  auto report = RecoverStore(config.state_dir, StoreCopiesDir(config));
  if (!report) {
    std::cerr << "bangerd: --recover-store: " << report.status().message() << "\n";
    return kExitFailure;
  }
  for (const auto& refused : report->copies_refused) {
    std::cout << "copy refused: " << refused << "\n";
  }
  std::cout << "store rebuilt in " << config.state_dir << "/store from "
            << (report->copy_used.empty() ? std::string("no copy (none was good)")
                                          : "copy " + report->copy_used)
            << " and the VM directories\n";
  if (!report->old_store_kept_at.empty()) {
    std::cout << "the old store is kept at " << report->old_store_kept_at << "\n";
  }
  std::map<RecoveredVm::Outcome, int> counts;
  for (const auto& vm : report->vms) {
    ++counts[vm.outcome];
    std::cout << OutcomeName(vm.outcome) << ": vm " << vm.id
              << (vm.name.empty() ? "" : " \"" + vm.name + "\"") << ": " << vm.detail << "\n";
  }
  std::cout << counts[RecoveredVm::Outcome::kRestored] << " restored, "
            << counts[RecoveredVm::Outcome::kRebuiltPartially] << " rebuilt partially, "
            << counts[RecoveredVm::Outcome::kNotRestored]
            << " not restored; start the agent to reconcile them\n";
  return 0;
}

// Runs the agent until SIGTERM or SIGINT. Under a service manager
// (NOTIFY_SOCKET): READY=1 once capabilities are initialised, reconcile has
// run and the socket serves; WATCHDOG=1 while Agent::Alive says so;
// STOPPING=1 when shutting down.
int Serve(const AgentConfig& config) {
  // Before any thread: it takes the variables out of the environment.
  const ServiceNotifier notifier = ServiceNotifier::FromEnvironment();
  sigset_t stop_signals = PrepareProcess();
  Logger logger(config.log_level, config.log_format);
  auto notify = [&](const std::string& message) {
    if (Status s = notifier.Notify(message); !s) logger.Warn("core", s.message());
  };
  Agent agent(config, logger);
  if (Status s = agent.Start(); !s) {
    logger.Error("core", "cannot start: " + s.message());
    notify("STATUS=cannot start: " + s.message());
    agent.Stop();
    std::cerr << "bangerd: cannot start: " << s.message() << "\n";
    return kExitFailure;
  }
  notify("READY=1\nSTATUS=" + agent.Summary());
  std::unique_ptr<PeriodicTask> watchdog;
  if (notifier.watchdog_interval().count() > 0) {
    // A ping only when the agent answers: a wedged agent is restarted.
    const auto every = notifier.watchdog_interval();
    watchdog = std::make_unique<PeriodicTask>(every, [&agent, &logger, &notify, every] {
      if (Status alive = agent.Alive(every); alive) {
        notify("WATCHDOG=1");
      } else {
        logger.Error("core", "watchdog: not pinged: " + alive.message());
      }
    });
    watchdog->Start();
    logger.Info("core", "watchdog: pinging the service manager every " +
                            std::to_string(every.count()) + " ms while the agent answers");
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  logger.Info("core", std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                          ", shutting down");
  notify("STOPPING=1\nSTATUS=shutting down");
  if (watchdog) watchdog->Stop();
  agent.Stop();
  return 0;
}

// --check-config: the config, then what each enabled capability would be.
int CheckConfigCommand(const AgentConfig& config) {
  std::cout << "config ok: state_dir=" << config.state_dir << " socket=" << config.socket_path
            << " plugins=" << config.enabled.size() << " enabled\n";
  auto registry =
      PluginRegistry::Discover(config, PluginFilePolicy{config.allow_plugin_symlinks, ::geteuid()});
  for (const auto& w : registry->warnings()) std::cout << "warning: " << w << "\n";
  bool ok = true;
  for (const auto& p : registry->all()) {
    if (!p->enabled) continue;
    bool usable = p->state == PluginState::kLoaded;
    ok = ok && usable;
    std::cout << (usable ? "ok    " : "error ") << p->name << ": "
              << (usable ? "loads from " + p->path : p->StatusText()) << "\n";
  }
  if (!ok) std::cerr << "bangerd: --check-config: an enabled capability would not run\n";
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace banger::core

int main(int argc, char** argv) {
  using namespace banger::core;
  po::options_description flags = Flags();
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(flags).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "bangerd: " << e.what() << " (see bangerd --help)\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << flags << "\n";
    return 0;
  }
  if (vm.count("man") && vm["man"].as<std::string>() == "bangerd.8") {
    std::cout << BangerdManPage(flags);
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "bangerd " << kBangerVersion << " (capability ABI " << BANGER_ABI_MAJOR << "."
              << BANGER_ABI_MINOR << ")\n";
    return 0;
  }
  int exit_code = 0;
  Result<AgentConfig> config = ConfigFromFlags(vm, &exit_code);
  if (!config) {
    std::cerr << "bangerd: " << config.status().message() << "\n";
    return exit_code;
  }
  if (vm.count("man")) {
    if (vm["man"].as<std::string>() != "bangerd.conf.5") {
      std::cerr << "bangerd: --man takes bangerd.8 or bangerd.conf.5\n";
      return kExitUsage;
    }
    std::cout << BangerdConfManPage(*config);
    return 0;
  }
  if (vm.count("check-config")) return CheckConfigCommand(*config);
  if (vm.count("recover-store")) return RecoverStoreCommand(*config, vm.count("force") > 0);
  return Serve(*config);
}
