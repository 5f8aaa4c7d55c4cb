// `bangerctl vm run` and `bangerctl vm logs`: a VM as a foreground process,
// which is what every process-based scheduler (Nomad's exec drivers, systemd
// units, Slurm, a Kubernetes pod with the socket mounted) knows how to run:
// the console on stdout, stages and outcome on stderr, SIGINT/SIGTERM stop
// the VM cleanly (exit 0), a VM that stops by itself exits 1 with the reason.
// bangerctl holds nothing the VM needs: killed with SIGKILL, it leaves the VM
// running under the agent, and `vm run NAME` again attaches to it.
#include <signal.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "core/base/unix_http_client.h"
#include "tools/bangerctl/agent_client.h"
#include "tools/bangerctl/vm_command.h"

namespace bangerctl {
namespace {

using banger::core::UnixHttpCall;
using banger::core::UnixHttpStream;
using nlohmann::json;

constexpr auto kForever = std::chrono::hours(24 * 365 * 10);
constexpr auto kAgentGoneLimit = std::chrono::minutes(5);

// The agent's {"error": ...} text of a failed reply, else its HTTP status.
std::string ReplyError(const banger::core::HttpCallResult& r) {
  auto j = json::parse(r.reply.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"];
  return "bangerd answered HTTP " + std::to_string(r.reply.status);
}

// Writes a chunk of the console to stdout as it comes.
void Out(std::string_view chunk) {
  std::fwrite(chunk.data(), 1, chunk.size(), stdout);
  std::fflush(stdout);
}

// A lifecycle action with its stages on stderr; the VM's JSON, or the error.
banger::core::Result<json> Lifecycle(const std::string& socket, const std::string& ref,
                                     const std::string& action) {
  std::string error;
  json vm;
  banger::core::Status s = AgentClient(socket).Stream(
      "POST", VmUrl(ref) + "/" + action + "?stream=1", "", [&](const json& e) {
        std::string kind = e.value("event", "");
        if (kind == "stage") PrintStage(e, std::cerr);
        if (kind == "result") vm = e["vm"];
        if (kind == "error") error = e.value("error", "");
      });
  if (!s) return s;
  if (!error.empty()) return banger::core::Status::Error(error);
  if (vm.is_null()) {
    return banger::core::Status::Error(action + " " + ref + ": the agent's reply ended early");
  }
  return vm;
}

// Waits for SIGINT, SIGTERM or SIGHUP (blocked in every thread) and stops
// the VM: the first signal asks for a clean stop, another one kills it.
class StopOnSignal {
 public:
  StopOnSignal(std::string socket, std::string name)
      : socket_(std::move(socket)), name_(std::move(name)) {
    sigemptyset(&signals_);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals_, s);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    thread_ = std::thread([this] { Wait(); });
  }
  ~StopOnSignal() {
    done_ = true;
    thread_.join();
  }
  int signal() const { return signal_; }
  // Once a signal came: waits for its stop; true when it succeeded.
  bool StopSucceeded() {
    while (signal_ != 0 && !stop_finished_)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return stop_ok_;
  }

 private:
  void Wait() {
    timespec tick{0, 200 * 1000 * 1000};
    while (!done_) {
      int sig = ::sigtimedwait(&signals_, nullptr, &tick);
      if (sig <= 0) continue;
      bool first = signal_ == 0;
      signal_ = sig;
      const char* name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP";
      if (!first) {
        // Another signal while stopping: the impatient way.
        std::cerr << "bangerctl: " << name << " again: killing vm " << name_ << "\n";
        std::thread([this] { (void)Lifecycle(socket_, name_, "kill"); }).detach();
        continue;
      }
      std::cerr << "bangerctl: " << name << ": stopping vm " << name_ << "\n";
      std::thread([this] { StopUntilStopped(); }).detach();
    }
  }

  // Asks for the stop until the VM is not running (or gone): an agent that
  // is away (restarting) is waited for, not taken as the end of it.
  void StopUntilStopped() {
    auto deadline = std::chrono::steady_clock::now() + kAgentGoneLimit;
    bool said = false;
    for (;;) {
      auto r = Lifecycle(socket_, name_, "stop");
      if (r) {
        stop_ok_ = true;
        break;
      }
      auto now = UnixHttpCall(socket_, "GET", VmUrl(name_), "", std::chrono::seconds(10));
      if (now.ok() && now.reply.status == 404) {
        stop_ok_ = true;  // gone: nothing runs
        break;
      }
      if (now.ok() && now.reply.status < 300) {
        std::string state = json::parse(now.reply.body, nullptr, false).value("state", "");
        if (state != "running" && state != "starting" && state != "stopping") {
          stop_ok_ = true;  // not running (stopped meanwhile, or never started)
          break;
        }
      }
      if (std::chrono::steady_clock::now() > deadline) {
        std::cerr << "bangerctl: " << r.status().message() << "\n";
        break;
      }
      if (!said) std::cerr << "bangerctl: stop: " << r.status().message() << "; trying again\n";
      said = true;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    stop_finished_ = true;
  }

  std::string socket_, name_;
  sigset_t signals_;
  std::atomic<bool> done_{false}, stop_finished_{false}, stop_ok_{false};
  std::atomic<int> signal_{0};
  std::thread thread_;
};

// Streams the console of the VM's current boot until the VM stops. The
// agent going away (a restart) is waited out and the stream taken up again
// from what is written next: what the VM wrote meanwhile is said to be in
// `vm logs`, never silently skipped. Ok, or why following had to end.
banger::core::Status FollowConsole(const std::string& socket, const std::string& name) {
  auto gone_since = std::chrono::steady_clock::time_point::min();
  std::string query = "boot=1&follow=1";
  for (;;) {
    bool got = false;
    auto r = UnixHttpStream(socket, "GET", VmUrl(name) + "/logs?" + query, "", kForever,
                            [&](std::string_view chunk) {
                              got = true;
                              Out(chunk);
                            });
    if (r.ok() && r.reply.status < 300) return banger::core::Status::Ok();
    if (r.ok()) return banger::core::Status::Error(ReplyError(r));
    auto now = std::chrono::steady_clock::now();
    if (got) gone_since = std::chrono::steady_clock::time_point::min();  // it was back
    if (gone_since == std::chrono::steady_clock::time_point::min()) {
      gone_since = now;
      std::cerr << "bangerctl: lost bangerd (" << r.error << "); the VM runs on; following "
                << "again when it is back (what the VM writes meanwhile: bangerctl vm logs " << name
                << ")\n";
    } else if (now - gone_since > kAgentGoneLimit) {
      return banger::core::Status::Error("bangerd has been unreachable for 5 minutes: " + r.error);
    }
    query = "tail=0&follow=1";
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

int RunVmLogs(const GlobalOptions& g, const std::vector<std::string>& args) {
  std::string name, query;
  bool follow = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-f" || a == "--follow") {
      follow = true;
    } else if (a == "--boot") {
      query += "&boot=1";
    } else if (a == "--tail" || a.rfind("--tail=", 0) == 0) {
      std::string v = a == "--tail" ? (i + 1 < args.size() ? args[++i] : "") : a.substr(7);
      if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) {
        return Fail("vm logs: --tail takes a number of lines", 2);
      }
      query += "&tail=" + v;
    } else if (name.empty() && !a.empty() && a[0] != '-') {
      name = a;
    } else {
      return Fail("vm logs: unexpected '" + a + "' (usage: vm logs NAME [-f] [--tail N])", 2);
    }
  }
  if (name.empty()) return Fail("vm logs: NAME is required", 2);
  if (follow) query += "&follow=1";
  std::string target = VmUrl(name) + "/logs" + (query.empty() ? "" : "?" + query.substr(1));
  auto r =
      UnixHttpStream(ResolveSocket(g.socket), "GET", target, "",
                     follow ? std::chrono::milliseconds(kForever) : std::chrono::minutes(5), Out);
  if (!r.ok()) return Fail("cannot reach bangerd: " + r.error);
  if (r.reply.status >= 300) return Fail(ReplyError(r));
  if (!r.reply.body.empty()) Out(r.reply.body);
  return 0;
}

int RunVmRun(const GlobalOptions& g, const std::vector<std::string>& args) {
  if (args.empty() || args[0].empty() || args[0][0] == '-') {
    return Fail("vm run: NAME first (usage: vm run NAME [--kernel K --rootfs R ...] [--rm])", 2);
  }
  json spec;
  std::vector<std::string> rest;
  if (auto why = ParseCreateFlags(args, spec, rest)) return Fail("vm run: " + *why, 2);
  bool remove = false;
  for (const auto& a : rest) {
    if (a != "--rm") return Fail("vm run: unknown option " + a, 2);
    remove = true;
  }
  const std::string& name = args[0];
  const std::string socket = ResolveSocket(g.socket);
  bool has_spec = spec.contains("kernel") || spec.contains("rootfs") || spec.size() > 1;
  if (has_spec && !(spec.contains("kernel") && spec.contains("rootfs"))) {
    return Fail("vm run: a spec needs --kernel and --rootfs", 2);
  }
  // From here on the stop signals are this program's to handle.
  StopOnSignal signals(socket, name);

  auto found = UnixHttpCall(socket, "GET", VmUrl(name), "", std::chrono::minutes(1));
  if (!found.ok()) return Fail("cannot reach bangerd: " + found.error);
  json vm;
  if (found.reply.status == 404) {
    if (!has_spec)
      return Fail("vm run: no VM named " + name + "; give --kernel and --rootfs to create it");
    auto created = AgentClient(socket).Call("POST", "/v1/vms", spec.dump());
    if (!created) return Fail(created.status().message());
    std::cerr << "created " << name << " (" << created->value("short_id", "") << ")\n";
    vm = *created;
  } else if (found.reply.status >= 300) {
    return Fail(ReplyError(found));
  } else {
    vm = json::parse(found.reply.body, nullptr, false);
    if (has_spec) {
      std::cerr << "bangerctl: vm " << name << " exists: running it as it is (the spec given "
                << "is not applied; rm it to change it)\n";
    }
  }
  auto remove_vm = [&] {
    if (!remove) return;
    auto r = UnixHttpCall(socket, "DELETE", VmUrl(name) + "?force=1", "", std::chrono::minutes(5));
    if (r.ok() && r.reply.status < 300) {
      std::cerr << "removed " << name << "\n";
    } else {
      std::cerr << "bangerctl: --rm: " << (r.ok() ? ReplyError(r) : r.error) << "\n";
    }
  };

  std::string state = vm.value("state", "");
  if (state != "running" && state != "starting" && signals.signal() == 0) {
    auto started = Lifecycle(socket, name, "start");
    if (!started) {
      Fail(started.status().message());
      remove_vm();
      return 1;
    }
    std::cerr << "started " << name << " (" << started->value("short_id", "") << ")\n";
    if (signals.signal() != 0 && signals.StopSucceeded()) {
      // The signal's stop may have come before the start took the VM: the
      // start won, so stop again (what the signal asked for).
      (void)Lifecycle(socket, name, "stop");
    }
  } else if (state == "running") {
    std::cerr << "attached to " << name << " (running)\n";
  }

  banger::core::Status followed = FollowConsole(socket, name);
  if (!followed) {
    // Nothing to stop or remove through an agent that cannot be reached.
    return Fail(followed.message());
  }
  if (signals.signal() != 0) {
    bool ok = signals.StopSucceeded();
    remove_vm();
    return ok ? 0 : 1;
  }
  auto last = AgentClient(socket).Call("GET", VmUrl(name));
  if (!last) return Fail(last.status().message());
  std::string reason = last->value("last_stop_reason", "");
  std::string error = last->value("last_error", "");
  int code = reason == "user" || reason == "user (kill)" ? 0 : 1;
  std::cerr << (code ? "bangerctl: " : "") << "vm " << name << " stopped"
            << (reason.empty() ? "" : ": " + reason) << (error.empty() ? "" : " (" + error + ")")
            << "\n";
  remove_vm();
  return code;
}

}  // namespace bangerctl
