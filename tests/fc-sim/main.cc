// fc-sim: a stand-in for the `firecracker` binary, as seen from the host, for
// machines without KVM. Started like Firecracker (`--api-sock PATH [--id ID]`),
// it serves Firecracker's API on that socket, opens what requests name, writes
// metrics and serves hybrid vsock (see sim_vmm.h). SIGTERM kills it (Firecracker
// does not handle SIGTERM); SendCtrlAltDel makes it exit shortly after, unless
// --ignore-ctrl-alt-del. Test-only options shape what the "guest" does.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/api/control_server.h"
#include "core/base/logger.h"
#include "tests/fc-sim/sim_vmm.h"

namespace {

constexpr const char* kUsage =
    "usage: fc-sim --api-sock PATH [--id ID]\n"
    "              [--guest-vsock-dir DIR] [--metrics-interval-ms N] [--ignore-ctrl-alt-del]\n"
    "              [--hold-mib N] [--burn-cpu PERCENT] [--api-delay-ms N] [--exit-delay-ms N]\n"
    "              [--console-rate BYTES_PER_S] [--poweroff-after-ms N]\n";

int Usage(const std::string& why) {
  // The reason last: it is the line a launcher shows from the log's tail.
  std::fprintf(stderr, "%sArguments parsing error: %s\n", kUsage, why.c_str());
  return 1;
}

bool ParseInt(const char* text, int min, int max, int* out) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < min || v > max) return false;
  *out = static_cast<int>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  fcsim::SimOptions options;
  std::string api_sock;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    // Like Firecracker's parser: `--name value` or `--name=value` (the
    // jailer passes --id= and the start times that way).
    std::string inline_value;
    bool has_inline = false;
    if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos) {
      inline_value = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
      has_inline = true;
    }
    auto value = [&](const char* name) -> const char* {
      (void)name;
      if (has_inline) return inline_value.c_str();
      if (i + 1 >= argc) return nullptr;
      return argv[++i];
    };
    const char* v = nullptr;
    if (a == "--api-sock") {
      if (!(v = value("--api-sock"))) return Usage("--api-sock needs a path");
      api_sock = v;
    } else if (a == "--id") {
      if (!(v = value("--id"))) return Usage("--id needs a value");
      options.id = v;
    } else if (a == "--start-time-us" || a == "--start-time-cpu-us") {
      int ignored = 0;
      if (!(v = value(a.c_str())) || !ParseInt(v, 0, INT32_MAX, &ignored)) {
        return Usage(a + " takes a number of microseconds");
      }
    } else if (a == "--guest-vsock-dir") {
      if (!(v = value("--guest-vsock-dir"))) return Usage("--guest-vsock-dir needs a dir");
      options.guest_vsock_dir = v;
    } else if (a == "--metrics-interval-ms") {
      if (!(v = value(a.c_str())) || !ParseInt(v, 10, 3600000, &options.metrics_interval_ms)) {
        return Usage("--metrics-interval-ms takes 10..3600000");
      }
    } else if (a == "--ignore-ctrl-alt-del") {
      options.ignore_ctrl_alt_del = true;
    } else if (a == "--hold-mib") {
      if (!(v = value(a.c_str())) || !ParseInt(v, 0, 65536, &options.hold_mib)) {
        return Usage("--hold-mib takes 0..65536");
      }
    } else if (a == "--burn-cpu") {
      if (!(v = value(a.c_str())) || !ParseInt(v, 0, 100, &options.burn_cpu_percent)) {
        return Usage("--burn-cpu takes a percentage 0..100");
      }
    } else if (a == "--exit-delay-ms") {
      if (!(v = value(a.c_str())) || !ParseInt(v, 0, 600000, &options.exit_delay_ms)) {
        return Usage("--exit-delay-ms takes 0..600000");
      }
    } else if (a == "--console-rate") {
      if (!(v = value(a.c_str())) || !ParseInt(v, 0, 100 << 20, &options.console_bytes_per_s)) {
        return Usage("--console-rate takes 0..104857600 bytes a second");
      }
    } else if (a == "--poweroff-after-ms") {
      if (!(v = value(a.c_str())) || !ParseInt(v, 0, 3600000, &options.poweroff_after_ms)) {
        return Usage("--poweroff-after-ms takes 0..3600000");
      }
    } else if (a == "--api-delay-ms") {
      if (!(v = value(a.c_str())) || !ParseInt(v, 0, 600000, &options.api_delay_ms)) {
        return Usage("--api-delay-ms takes 0..600000");
      }
    } else {
      return Usage("Found argument '" + a + "' which wasn't expected");
    }
  }
  if (api_sock.empty()) return Usage("--api-sock is required");

  // Like Firecracker: an existing path is refused, never removed.
  struct stat st;
  if (::lstat(api_sock.c_str(), &st) == 0) {
    std::fprintf(stderr,
                 "Failed to open the API socket at: %s. Check that it is not already used.\n",
                 api_sock.c_str());
    return 1;
  }
  ::signal(SIGPIPE, SIG_IGN);

  banger::core::Logger logger(banger::core::LogLevel::kInfo);
  banger::core::RouteTable routes;
  fcsim::SimVmm vmm(options);
  vmm.AddRoutes(routes);
  banger::core::ControlServer server(routes, banger::core::PeerPolicy{::geteuid(), std::nullopt},
                                     logger);
  if (banger::core::Status s = server.Listen(api_sock); !s) {
    std::fprintf(stderr, "Failed to open the API socket at: %s: %s\n", api_sock.c_str(),
                 s.message().c_str());
    return 1;
  }
  server.Start();
  logger.Info("fc-sim:" + options.id, "API server listening on " + api_sock);
  vmm.WaitForExit();
  logger.Info("fc-sim:" + options.id, "guest shut down; exiting");
  // Exit as a process does: the API and vsock sockets stay on disk, as
  // Firecracker leaves them.
  std::_Exit(0);
}
