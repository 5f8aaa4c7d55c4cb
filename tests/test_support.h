// Helpers for the cross-component tests: temporary directories, copies of
// the built test capabilities, running programs, waiting on a condition with
// a deadline (never a bare sleep), and a bangerd child process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/lifecycle/lifecycle_backend.h"

namespace banger::core::testing {

// The lifecycle's part of the host for tests and benchmarks that drive
// capabilities directly: it accepts what capabilities contribute to a VM's
// VMM configuration and keeps it for checks.
class ContributionRecorder : public LifecycleRequests {
 public:
  ServiceStatus AddNetworkInterface(const std::string&, const std::string& vm_id,
                                    const banger_net_iface& iface) override {
    ifaces[vm_id] = {iface.iface_id, iface.host_dev_name, iface.guest_mac};
    return ServiceStatus::Ok();
  }
  ServiceStatus AppendBootArgs(const std::string&, const std::string& vm_id,
                               const std::string& args) override {
    boot_args[vm_id] = args;
    return ServiceStatus::Ok();
  }
  ServiceStatus RequestStop(const std::string&, const std::string&, const std::string&) override {
    return {BANGER_UNAVAILABLE, "no lifecycle here"};
  }
  std::map<std::string, std::vector<std::string>> ifaces;
  std::map<std::string, std::string> boot_args;
};

// A fresh directory under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Path of a built test capability ("recorder" -> .../tests/plugins/recorder.so).
std::string TestPluginPath(const std::string& name);
// Copies test capabilities into `dir` as <name>.so, mode 0755.
void CopyPlugins(const std::string& dir, const std::vector<std::string>& names);

void WriteFile(const std::string& path, const std::string& text);
std::string ReadFile(const std::string& path);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};
// Runs argv (no shell) with a 60 s limit, stdin from `stdin_path`.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::string& stdin_path = "/dev/null");

// Polls `condition` every 10 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));

bool IsRoot();

// A connected UNIX stream socket to `path` (close it yourself), or -1 with
// errno saying why. System calls only: a forked child may call it.
int ConnectUnix(const std::string& path);

// One HTTP/1.1 request as bytes, with `Connection: close` (the server
// closes once it has answered).
std::string HttpRequestBytes(const std::string& method, const std::string& target,
                             const std::string& body = "");

// What a client of another uid does, step by step: hold one more
// connection open, close every connection held, send a request on a
// connection of its own and read the answer (to its Content-Length, or to
// the server's close).
struct ClientStep {
  enum Kind { kHold, kCloseHeld, kRequest } kind;
  std::string request;  // kRequest: the bytes sent
};
ClientStep Hold();
ClientStep CloseHeld();
ClientStep Request(std::string bytes);

// What the client saw for one request.
struct ExchangeAs {
  int connect_errno = -1;  // 0: connected; -1: the client never got there
  std::string reply;       // the bytes of the server's answer
};
// Runs `steps` as `uid`/`gid` (no supplementary groups) in a forked child
// against the UNIX socket `socket`; what each request got, in order.
// The child makes system calls only (no allocation, no locks): a fork
// of a process with threads may find a lock taken for ever, the
// allocator's among them, under a sanitizer above all.
std::vector<ExchangeAs> ExchangeAsUser(uid_t uid, gid_t gid, const std::string& socket,
                                       const std::vector<ClientStep>& steps);
// The status code of an HTTP reply's bytes (0 when there is none).
int ReplyStatus(const std::string& reply);
// The body of an HTTP reply's bytes.
std::string ReplyBody(const std::string& reply);

// A network namespace of the test's own ("banger-t<pid>-<n>"), deleted with
// everything in it on destruction. Needs root (and `ip`).
class NetNamespace {
 public:
  NetNamespace();
  ~NetNamespace();
  const std::string& name() const { return name_; }
  bool ok() const { return ok_; }
  // argv run inside the namespace (`ip netns exec NAME argv...`).
  std::vector<std::string> Wrap(const std::vector<std::string>& argv) const;
  CommandResult Run(const std::vector<std::string>& argv) const;

 private:
  std::string name_;
  bool ok_ = false;
};

// A background process (no shell); killed with SIGKILL on destruction if
// still running. Output goes to `log_path`.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const std::string& log_path);
  ~BackgroundProcess();
  pid_t pid() const { return pid_; }
  // Exit code (128+signal when killed) once it exited within `timeout`, else -1.
  int WaitExit(std::chrono::milliseconds timeout);
  void Kill(int sig);

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

// A bangerd started with `args`; its output goes to a log file.
class AgentProcess {
 public:
  AgentProcess(const std::vector<std::string>& args, const std::string& log_path);
  // `argv` is the whole command (e.g. bangerd wrapped in `ip netns exec`).
  AgentProcess(const std::vector<std::string>& argv, const std::string& log_path, bool raw)
      : log_path_(log_path), process_(argv, log_path) {
    (void)raw;
  }
  pid_t pid() const { return process_.pid(); }
  // True once a GET /v1/info on `socket` answers 200 (false if it exited).
  bool WaitReady(const std::string& socket);
  // Sends `sig` and waits for the exit; returns the exit code (or 128+signal).
  int Stop(int sig);
  // Waits for it to exit by itself; returns the exit code or -1 on timeout.
  int WaitExit(std::chrono::milliseconds timeout) { return process_.WaitExit(timeout); }
  std::string log() const;

 private:
  static std::vector<std::string> Argv(const std::vector<std::string>& args);
  std::string log_path_;
  BackgroundProcess process_;
};

}  // namespace banger::core::testing
