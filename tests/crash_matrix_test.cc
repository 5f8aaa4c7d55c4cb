// The crash matrix: the agent killed (SIGKILL, at a fault point: see
// core/base/fault_point.h) at each named point of create, start (each
// capability's reserve, whose handles the "starting" record carries, and its
// prepare),
// stop, kill, rm, reconcile, a stats transaction and a store copy. For each:
// restart, reconcile, stop and rm every VM; then nothing may be left: no TAP
// beyond the pool and none with an address, no NAT entry, no VMM, no VM
// directory, no record; and every record the restart shows is in a final
// state. Real capabilities (tap, nat, stats) in a network namespace of the
// test's own, fc-sim as the VMM.
//
// The table this run produces is docs/RELIABILITY.md's: the test fails when
// the file says otherwise. BANGER_UPDATE_RELIABILITY=1 rewrites it
// (tools/dev/crash-matrix.sh).
#include <gtest/gtest.h>
#include <signal.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/base/unix_http_client.h"
#include "core/vmm/process_identity.h"
#include "tests/test_support.h"

namespace banger::core {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::TempDir;

enum class Trigger { kCreate, kStart, kStop, kKill, kRm, kAgentStart, kStatsTick, kShutdown };

struct Case {
  const char* operation;
  Trigger trigger;
  const char* point;
};

// Each point is where the agent dies: right after what it names.
const Case kCases[] = {
    {"create", Trigger::kCreate, "vm.create.record.creating"},
    {"create", Trigger::kCreate, "lifecycle.create.dir_made"},
    {"create", Trigger::kCreate, "lifecycle.create.files_made"},
    {"create", Trigger::kCreate, "vm.create.record.created"},
    {"start", Trigger::kStart, "capability.tap.reserved"},
    {"start", Trigger::kStart, "capability.nat.reserved"},
    {"start", Trigger::kStart, "vm.start.reserve"},
    {"start", Trigger::kStart, "vm.start.record.starting"},
    {"start", Trigger::kStart, "capability.tap.prepare"},
    {"start", Trigger::kStart, "capability.tap.prepared"},
    {"start", Trigger::kStart, "capability.nat.prepare"},
    {"start", Trigger::kStart, "capability.nat.prepared"},
    {"start", Trigger::kStart, "vm.start.prepare"},
    {"start", Trigger::kStart, "vm.start.vmm.spawn"},
    {"start", Trigger::kStart, "vm.start.vmm.ready"},
    {"start", Trigger::kStart, "vm.start.vmm.configure"},
    {"start", Trigger::kStart, "vm.start.vmm.boot"},
    {"start", Trigger::kStart, "vm.start.record.running"},
    {"stop", Trigger::kStop, "vm.stop.record.stopping"},
    {"stop", Trigger::kStop, "vm.stop.vmm.stop"},
    {"stop", Trigger::kStop, "capability.nat.cleanup"},
    {"stop", Trigger::kStop, "capability.nat.cleaned"},
    {"stop", Trigger::kStop, "capability.tap.cleanup"},
    {"stop", Trigger::kStop, "capability.tap.cleaned"},
    {"stop", Trigger::kStop, "vm.stop.cleanup"},
    {"stop", Trigger::kStop, "vm.stop.record.stopped"},
    {"kill", Trigger::kKill, "vm.kill.record.stopping"},
    {"kill", Trigger::kKill, "vm.kill.vmm.kill"},
    {"kill", Trigger::kKill, "vm.kill.cleanup"},
    {"rm", Trigger::kRm, "vm.rm.files"},
    {"rm", Trigger::kRm, "vm.rm.record"},
    {"reconcile (its VMM died)", Trigger::kAgentStart, "vm.reconcile.vmm.gone"},
    {"reconcile (its VMM died)", Trigger::kAgentStart, "vm.reconcile.vmm.kill"},
    {"reconcile (its VMM died)", Trigger::kAgentStart, "vm.reconcile.cleanup"},
    {"reconcile (its VMM died)", Trigger::kAgentStart, "vm.reconcile.record.stopped"},
    {"stats tick", Trigger::kStatsTick, "store.stats.writing"},
    {"stats tick", Trigger::kStatsTick, "store.stats.committed"},
    {"store copy (shutdown)", Trigger::kShutdown, "store.copy.written"},
    {"store copy (shutdown)", Trigger::kShutdown, "store.copy.renamed"},
};

constexpr int kPoolSize = 4;

// One case in a namespace and a state dir of its own.
class CrashCase {
 public:
  explicit CrashCase(const Case& c) : case_(c) {
    ns_.Run({"ip", "link", "add", "up0", "type", "veth", "peer", "name", "up0p"});
    ns_.Run({"ip", "link", "set", "up0", "up"});
    std::filesystem::create_directories(dir_ / "plugins");
    for (const char* p : {"tap", "nat", "stats"}) {
      std::filesystem::copy_file(std::string(BANGER_PLUGIN_DIR) + "/" + p + ".so",
                                 dir_ / (std::string("plugins/") + p + ".so"));
    }
    testing::WriteFile(dir_ / "vmlinux", "k");
    testing::WriteFile(dir_ / "rootfs", std::string(4096, 'r'));
    testing::WriteFile(
        dir_ / "bangerd.conf",
        "[core]\nstate_dir = " + (dir_ / "state") + "\nsocket = " + socket_ +
            "\nplugin_dirs = " + (dir_ / "plugins") + "\nvmm_binary = " + FC_SIM_PATH +
            "\nstore_copy_interval = off\n[plugins]\nenable = tap, nat, stats\n[tap]\npool_size "
            "= " +
            std::to_string(kPoolSize) + "\ncidr = 10.201.0.0/24\n[nat]\nuplink = up0\n" +
            "[stats]\ninterval = 100ms\n");
  }
  ~CrashCase() {
    agent_.reset();
    for (const auto& [socket, procs] : ScanApiSocketProcesses()) {
      if (socket.rfind(dir_.path(), 0) != 0) continue;
      for (const auto& p : procs) ::kill(p.pid, SIGKILL);
    }
  }

  // The row of the table, or a failure (gtest) when something was left.
  std::string Run() {
    if (!ns_.ok()) return "no namespace";
    Setup();
    if (::testing::Test::HasFatalFailure()) return "setup failed";
    Crash();
    if (::testing::Test::HasFatalFailure()) return "the agent did not die at the point";
    return Recover();
  }

 private:
  void StartAgent(const std::string& log, const std::string& crash_at = "") {
    std::vector<std::string> argv{"env"};
    if (!crash_at.empty()) argv.push_back("BANGER_CRASH_AT=" + crash_at);
    argv.insert(argv.end(), {BANGERD_PATH, "--config", dir_ / "bangerd.conf"});
    agent_ = std::make_unique<testing::AgentProcess>(ns_.Wrap(argv), dir_ / log, /*raw=*/true);
  }
  void StartServingAgent(const std::string& log) {
    StartAgent(log);
    ASSERT_TRUE(agent_->WaitReady(socket_)) << agent_->log();
  }
  json Api(const std::string& method, const std::string& path, const json& body = nullptr) {
    auto r = UnixHttpCall(socket_, method, path, body.is_null() ? "" : body.dump(), 30s);
    return r.ok() ? json::parse(r.reply.body, nullptr, false) : json{{"error", r.error}};
  }
  json Create() {
    return Api("POST", "/v1/vms",
               {{"name", "web"}, {"kernel", dir_ / "vmlinux"}, {"rootfs", dir_ / "rootfs"}});
  }

  // The state the point is reached from, made by an agent that is not armed.
  void Setup() {
    if (case_.trigger == Trigger::kCreate) return;
    StartServingAgent("setup.log");
    ASSERT_EQ(Create()["state"], "created");
    bool running = case_.trigger == Trigger::kStop || case_.trigger == Trigger::kKill ||
                   case_.trigger == Trigger::kAgentStart || case_.trigger == Trigger::kStatsTick;
    pid_t vmm = 0;
    if (running) {
      json vm = Api("POST", "/v1/vms/web/start");
      ASSERT_EQ(vm["state"], "running") << vm.dump();
      vmm = vm["runtime"]["pid"].get<pid_t>();
    }
    ASSERT_EQ(agent_->Stop(SIGTERM), 0) << agent_->log();
    if (case_.trigger == Trigger::kAgentStart) {
      ::kill(vmm, SIGKILL);  // the VMM dies while the agent is away
      ASSERT_TRUE(testing::WaitFor([&] { return ::kill(vmm, 0) != 0; }));
    }
  }

  // The armed agent, driven to its point; it must die there.
  void Crash() {
    StartAgent("crashed.log", case_.point);
    // These die by themselves, maybe before a readiness probe sees them serve.
    bool dies_alone = case_.trigger == Trigger::kAgentStart || case_.trigger == Trigger::kStatsTick;
    if (!dies_alone) {
      ASSERT_TRUE(agent_->WaitReady(socket_)) << agent_->log();
    }
    switch (case_.trigger) {
      case Trigger::kCreate:
        Create();
        break;
      case Trigger::kStart:
        Api("POST", "/v1/vms/web/start");
        break;
      case Trigger::kStop:
        Api("POST", "/v1/vms/web/stop");
        break;
      case Trigger::kKill:
        Api("POST", "/v1/vms/web/kill");
        break;
      case Trigger::kRm:
        Api("DELETE", "/v1/vms/web");
        break;
      case Trigger::kShutdown:
        ::kill(agent_->pid(), SIGTERM);
        break;
      case Trigger::kAgentStart:
      case Trigger::kStatsTick:
        break;  // it gets there by itself
    }
    ASSERT_EQ(agent_->WaitExit(20s), 128 + SIGKILL) << agent_->log();
    ASSERT_NE(agent_->log().find(std::string("fault point ") + case_.point + ": SIGKILL"),
              std::string::npos)
        << agent_->log();
  }

  // Restart, reconcile; what the records say; stop and rm all; what is left.
  std::string Recover() {
    StartServingAgent("restarted.log");
    if (::testing::Test::HasFatalFailure()) return "did not restart";
    json all = Api("GET", "/v1/vms");
    std::string seen;
    for (const auto& vm : all["vms"]) {
      std::string state = vm["state"];
      EXPECT_TRUE(state == "created" || state == "running" || state == "stopped")
          << "not a final state: " << vm.dump();
      seen += vm["name"].get<std::string>() + ": " + state;
      std::string reason = vm.value("last_stop_reason", "");
      if (state == "stopped" && !reason.empty()) seen += " (" + reason + ")";
    }
    if (seen.empty()) seen = "no VM";
    if (agent_->log().find("its create was interrupted") != std::string::npos) {
      seen += "; the interrupted create was undone";
    }
    for (const auto& o : all["orphans"]) {
      seen += "; reported: " + o["kind"].get<std::string>();
    }
    EXPECT_TRUE(all["corrupt"].empty()) << all.dump();

    for (const auto& vm : all["vms"]) {
      std::string name = vm["name"];
      std::string stopped = Api("POST", "/v1/vms/" + name + "/stop")["state"];
      EXPECT_TRUE(stopped == "stopped" || stopped == "created") << stopped;
      EXPECT_EQ(Api("DELETE", "/v1/vms/" + name)["removed"], name);
    }
    std::string left = Leftovers();
    EXPECT_EQ(left, "nothing") << agent_->log();
    return seen + " | " + left;
  }

  // What stop and rm left behind; "nothing" when all is clean.
  std::string Leftovers() {
    std::vector<std::string> found;
    json taps =
        json::parse(ns_.Run({"ip", "-j", "addr", "show", "type", "tun"}).output, nullptr, false);
    if (taps.is_array()) {
      if (taps.size() > kPoolSize) found.push_back(std::to_string(taps.size()) + " TAPs");
      for (const auto& t : taps) {
        for (const auto& a : t["addr_info"]) {
          if (a["family"] == "inet")
            found.push_back("an address on " + t["ifname"].get<std::string>());
        }
      }
    }
    std::string set = ns_.Run({"nft", "list", "set", "ip", "banger", "egress"}).output;
    if (set.find("elements") != std::string::npos) found.push_back("NAT entries: " + set);
    for (const auto& [socket, procs] : ScanApiSocketProcesses()) {
      if (socket.rfind(dir_.path(), 0) == 0) found.push_back("a VMM on " + socket);
    }
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "state/vms", ec)) {
      found.push_back("directory " + e.path().string());
    }
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "state/store-copies", ec)) {
      if (e.path().filename().string().rfind(".partial-", 0) == 0) {
        found.push_back("a half-made store copy " + e.path().string());
      }
    }
    json all = Api("GET", "/v1/vms");
    if (!all["vms"].empty() || !all["orphans"].empty()) found.push_back("records: " + all.dump());
    if (found.empty()) return "nothing";
    std::string out;
    for (const auto& f : found) out += (out.empty() ? "" : "; ") + f;
    return out;
  }

  const Case& case_;
  TempDir dir_;
  testing::NetNamespace ns_;
  std::string socket_ = dir_ / "b.sock";
  std::unique_ptr<testing::AgentProcess> agent_;
};

constexpr const char* kBegin = "<!-- crash-matrix: generated by tests/crash_matrix_test.cc -->\n";
constexpr const char* kEnd = "<!-- crash-matrix: end -->\n";

TEST(CrashMatrixTest, AKilledAgentLeavesNothingBehindAtAnyPoint) {
#ifndef BANGER_FAULT_POINTS
  GTEST_SKIP() << "built without fault points (BANGER_FAULT_POINTS=OFF)";
#endif
  if (!testing::IsRoot()) GTEST_SKIP() << "needs root: network namespaces, TAP devices, nft";
  std::string table =
      "| # | operation | the agent is killed right after | at restart, after reconcile | "
      "after stop and rm of every VM, left behind |\n| --- | --- | --- | --- | --- |\n";
  int n = 0;
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.point);
    auto began = std::chrono::steady_clock::now();
    std::string row = CrashCase(c).Run();
    std::fprintf(stderr, "crash matrix: %-30s %6lld ms\n", c.point,
                 static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - began)
                                            .count()));
    std::ostringstream line;
    line << "| " << ++n << " | " << c.operation << " | `" << c.point << "` | " << row << " |\n";
    table += line.str();
  }
  EXPECT_GE(n, 30);

  const std::string doc_path = std::string(BANGER_SOURCE_DIR) + "/docs/RELIABILITY.md";
  std::string doc = testing::ReadFile(doc_path);
  size_t begin = doc.find(kBegin), end = doc.find(kEnd);
  ASSERT_TRUE(begin != std::string::npos && end != std::string::npos && begin < end)
      << doc_path << " lacks the crash-matrix markers";
  std::string generated =
      doc.substr(0, begin) + kBegin + table + kEnd + doc.substr(end + strlen(kEnd));
  if (const char* update = std::getenv("BANGER_UPDATE_RELIABILITY"); update && *update == '1') {
    testing::WriteFile(doc_path, generated);
    return;
  }
  EXPECT_EQ(doc, generated) << doc_path
                            << " is not what this run found: run tools/dev/crash-matrix.sh";
}

}  // namespace
}  // namespace banger::core
