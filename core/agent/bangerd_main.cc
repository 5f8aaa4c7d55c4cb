// bangerd: the banger host agent. Reads its config, loads capabilities,
// serves the control socket until SIGTERM or SIGINT.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "banger/capability.h"
#include "core/agent/agent.h"
#include "core/agent/agent_config.h"
#include "core/base/version.h"

namespace po = boost::program_options;

namespace {

std::string Absolute(const std::string& path) {
  return path.empty() ? path : std::filesystem::absolute(path).lexically_normal().string();
}

}  // namespace

int main(int argc, char** argv) {
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
      "vmm-binary", po::value<std::string>(), "override [core] vmm_binary")(
      "check-config", "parse the config, print the result and exit");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(flags).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "bangerd: " << e.what() << " (see bangerd --help)\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << flags << "\n";
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "bangerd " << banger::core::kBangerVersion << " (capability ABI "
              << BANGER_ABI_MAJOR << "." << BANGER_ABI_MINOR << ")\n";
    return 0;
  }

  std::string config_path;
  if (vm.count("config")) {
    config_path = vm["config"].as<std::string>();
  } else if (std::filesystem::exists(banger::core::kDefaultConfigPath)) {
    config_path = banger::core::kDefaultConfigPath;
  }
  banger::core::Result<banger::core::AgentConfig> loaded =
      config_path.empty() ? banger::core::ParseAgentConfig("", "")
                          : banger::core::LoadAgentConfigFile(config_path);
  if (!loaded) {
    std::cerr << "bangerd: " << loaded.status().message() << "\n";
    return 1;
  }
  banger::core::AgentConfig config = std::move(loaded.value());
  if (vm.count("state-dir")) config.state_dir = vm["state-dir"].as<std::string>();
  if (vm.count("socket")) config.socket_path = vm["socket"].as<std::string>();
  if (vm.count("socket-group")) config.socket_group = vm["socket-group"].as<std::string>();
  if (vm.count("vmm-binary")) config.vmm_binary = vm["vmm-binary"].as<std::string>();
  if (vm.count("plugin-dir")) config.plugin_dirs = vm["plugin-dir"].as<std::vector<std::string>>();
  if (vm.count("log-level")) {
    auto level = banger::core::ParseLogLevel(vm["log-level"].as<std::string>());
    if (!level) {
      std::cerr << "bangerd: --log-level: use debug, info, warn or error\n";
      return 2;
    }
    config.log_level = *level;
  }
  // Relative paths are taken from the directory bangerd was started in.
  config.state_dir = Absolute(config.state_dir);
  config.socket_path = Absolute(config.socket_path);
  for (auto& d : config.plugin_dirs) d = Absolute(d);
  if (config.vmm_binary.find('/') != std::string::npos)
    config.vmm_binary = Absolute(config.vmm_binary);
  if (banger::core::Status s = banger::core::ValidateAgentConfig(config); !s) {
    std::cerr << "bangerd: " << s.message() << "\n";
    return 1;
  }
  if (vm.count("check-config")) {
    std::cout << "config ok: state_dir=" << config.state_dir << " socket=" << config.socket_path
              << " plugins=" << config.enabled.size() << " enabled\n";
    return 0;
  }

  // Shutdown signals are taken by sigwait below, so every thread the agent
  // starts inherits them blocked; children get a clean mask (RunProcess).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Capabilities keep files open per VM (stats keeps three): lift the soft
  // descriptor limit to the hard one, as long-running daemons do.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }

  banger::core::Logger logger(config.log_level);
  banger::core::Agent agent(config, logger);
  if (banger::core::Status s = agent.Start(); !s) {
    logger.Error("core", "cannot start: " + s.message());
    agent.Stop();
    std::cerr << "bangerd: cannot start: " << s.message() << "\n";
    return 1;
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  logger.Info("core", std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                          ", shutting down");
  agent.Stop();
  return 0;
}
