// Per-VM network setup and teardown, side by side in one run, inside a
// network namespace of the benchmark's own (root needed):
//   banger  the tap capability (TAP from the warm pool, address, up) plus the
//           nat capability (nftables set element), as a start runs them:
//           their reserve hooks (identities chosen, held), the one store
//           commit that records them (in the agent, the VM's "starting"
//           record carries them), their prepare hooks; then their cleanup
//           hooks and the commit that clears the handles;
//   iptables the same three rules, one `iptables -w` exec each (add: -A x3,
//           delete: -D x3);
//   ptp     Debian's CNI ptp plugin with ipMasq, ADD and DEL.
// Each with 1, 100 and 1,000 VMs already present.
//
//   build/bench/network_bench [--counts=1,100,1000] [--rounds=300] [--exec-rounds=20]
//                             [--cni-max=1000] [--dir=/var/tmp]
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "bench/bench_report.h"
#include "core/agent/agent_config.h"
#include "core/base/process_runner.h"
#include "core/lifecycle/vm_view.h"
#include "core/plugin_host/hook_dispatcher.h"
#include "core/plugin_host/host_table.h"
#include "core/plugin_host/plugin_registry.h"
#include "core/store/vm_store.h"
#include "tests/test_support.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using banger::core::testing::RunCommand;
using nlohmann::json;

double Ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}
double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void Must(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "network_bench: %s\n", what.c_str());
    std::exit(1);
  }
}

// Runs argv with extra environment and stdin from a file; exit code.
int RunWithEnv(const std::vector<std::string>& argv, const std::vector<std::string>& env,
               const std::string& stdin_file) {
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) envs.push_back(*e);
  envs.insert(envs.end(), env.begin(), env.end());
  std::vector<char*> cargv, cenv;
  std::vector<std::string> a = argv;
  for (auto& s : a) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  for (auto& s : envs) cenv.push_back(s.data());
  cenv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, stdin_file.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct Row {
  int present = 0;
  double hooks = 0;  // reserve + prepare, without the commit
  double prepare = 0, cleanup = 0, ipt_add = 0, ipt_del = 0, cni_add = -1, cni_del = -1;
  // The host's per-hook counters, mean ms: tap reserve, tap prepare, nat
  // reserve, nat prepare, tap cleanup, nat cleanup.
  std::vector<double> means;
};

std::string Ip(uint32_t host_order) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", host_order >> 24, (host_order >> 16) & 255,
                (host_order >> 8) & 255, host_order & 255);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> counts{1, 100, 1000};
  int rounds = 300, exec_rounds = 20, cni_max = 1000;
  std::string base = "/var/tmp";
  banger::bench::BenchReport report("network");
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (report.TakeArg(a)) continue;
    auto v = [&](const char* p) { return a.substr(std::string(p).size()); };
    if (a.rfind("--counts=", 0) == 0) {
      counts.clear();
      std::stringstream ss(v("--counts="));
      for (std::string c; std::getline(ss, c, ',');) counts.push_back(std::stoi(c));
    } else if (a.rfind("--rounds=", 0) == 0) {
      rounds = std::stoi(v("--rounds="));
    } else if (a.rfind("--exec-rounds=", 0) == 0) {
      exec_rounds = std::stoi(v("--exec-rounds="));
    } else if (a.rfind("--cni-max=", 0) == 0) {
      cni_max = std::stoi(v("--cni-max="));
    } else if (a.rfind("--dir=", 0) == 0) {
      base = v("--dir=");
    } else {
      std::fprintf(stderr,
                   "usage: network_bench [--counts=1,100,1000] [--rounds=N] "
                   "[--exec-rounds=N] [--cni-max=N] [--dir=D] [--json=PATH]\n");
      return 2;
    }
  }
  Must(geteuid() == 0, "needs root (network namespace, TAP devices, nft, iptables)");
  Must(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET) failed");
  RunCommand({"ip", "link", "set", "lo", "up"});
  Must(RunCommand({"ip", "link", "add", "up0", "type", "veth", "peer", "name", "up0p"}).exit_code ==
           0,
       "cannot create the uplink veth");
  RunCommand({"ip", "link", "set", "up0", "up"});
  std::string dir = base + "/banger-network-bench-" + std::to_string(getpid());
  std::filesystem::create_directories(dir + "/plugins");
  for (const char* p : {"tap", "nat"}) {
    std::filesystem::copy_file(std::string(BANGER_PLUGIN_DIR) + "/" + p + ".so",
                               dir + "/plugins/" + p + ".so");
  }
  int max_count = *std::max_element(counts.begin(), counts.end());
  int pool = max_count + 2;

  // ---- banger: tap + nat through the dispatcher, handles in the store ----
  banger::core::Logger logger(banger::core::LogLevel::kWarn);
  banger::core::VerbRegistry verbs;
  auto store = banger::core::VmStore::Open({dir + "/store", 64u << 20});
  Must(store.ok(), "store");
  banger::core::HandleStore handles(**store);
  banger::core::LifecycleBackend backend(**store, handles);
  banger::core::testing::ContributionRecorder lifecycle;
  backend.AttachLifecycle(&lifecycle);
  auto cfg = banger::core::ParseAgentConfig(
      "[core]\nplugin_dirs = " + dir +
          "/plugins\n[plugins]\nenable = tap, nat\n[tap]\npool_size = " + std::to_string(pool) +
          "\ncidr = 10.64.0.0/14\n[nat]\nuplink = up0\n",
      "bench");
  auto registry = banger::core::PluginRegistry::Discover(*cfg, {false, geteuid()});
  banger::core::HostTable services(logger, verbs);
  services.AttachVmBackend(&backend);
  banger::core::HookDispatcher dispatcher(*registry, services, logger);
  Must(dispatcher.InitAll().ok(), "tap and nat did not initialise");
  Must(banger::core::testing::WaitFor(
           [&] { return if_nametoindex(("bt" + std::to_string(pool - 1)).c_str()) != 0; },
           std::chrono::seconds(120)),
       "the TAP pool did not warm");
  auto new_vm = [&](const std::string& name) {
    banger::core::VmRecord r;
    r.id = banger::core::NewVmId();
    r.name = name;
    Must((*store)->Upsert(r).ok(), "upsert");
    return *(*store)->Get(r.id);
  };
  // A start's network part, as VmLifecycle runs it: reserve (held), the
  // one commit of the reserved handles (the agent's record.starting), then
  // prepare. `hooks_ms` gets reserve + prepare alone.
  auto start_network = [&](const banger::core::VmRecordPtr& vm, double* hooks_ms) {
    auto view = banger::core::MakeVmView(*vm);
    auto t = Clock::now();
    handles.Hold(vm->id);
    Must(dispatcher.Reserve(view).ok(), "reserve");
    double reserve = Ms(t);
    Must((*store)
             ->Update(
                 vm->id,
                 [&](banger::core::VmRecord& r) {
                   handles.ApplyHeld(vm->id, r);
                   return banger::core::Status::Ok();
                 },
                 banger::core::VmStore::Sync::kDataOnly)
             .ok(),
         "commit the reserved handles");
    handles.Release(vm->id, true);
    auto fresh = *(*store)->Get(vm->id);
    auto view2 = banger::core::MakeVmView(*fresh);
    auto p = Clock::now();
    Must(dispatcher.Prepare(view2, {}, nullptr, /*reserved=*/true).ok(), "prepare");
    if (hooks_ms) *hooks_ms = reserve + Ms(p);
  };
  std::vector<Row> rows;
  int present = 0;
  for (int n : counts) {
    while (present < n) {
      start_network(new_vm("present-" + std::to_string(present)), nullptr);
      ++present;
    }
    Row row;
    row.present = n;
    std::vector<double> prep, hooks, clean;
    auto snapshot = [&](const char* cap, const char* hook) {
      auto c = registry->Find(cap)->stats.Snapshot().hooks[hook];
      return std::pair<uint64_t, uint64_t>{c.calls, c.total_ns};
    };
    auto before_tap = snapshot("tap", "prepare"), before_nat = snapshot("nat", "prepare");
    auto before_tapr = snapshot("tap", "reserve"), before_natr = snapshot("nat", "reserve");
    auto before_tapc = snapshot("tap", "cleanup"), before_natc = snapshot("nat", "cleanup");
    for (int r = 0; r < rounds; ++r) {
      auto vm = new_vm("m-" + std::to_string(n) + "-" + std::to_string(r));
      double h = 0;
      auto t = Clock::now();
      start_network(vm, &h);
      prep.push_back(Ms(t));
      hooks.push_back(h);
      auto fresh = *(*store)->Get(vm->id);  // as the agent does: the record as it is now
      auto view2 = banger::core::MakeVmView(*fresh);
      t = Clock::now();
      Must(dispatcher.Cleanup(view2).ok(), "cleanup");
      clean.push_back(Ms(t));
      // The agent clears the handles with the VM's "stopped" record.
      for (const char* cap : {"tap", "nat"}) Must(handles.Clear(vm->id, cap, "").ok(), "clear");
      (*store)->Delete(vm->id);
    }
    row.hooks = Median(hooks);
    row.prepare = Median(prep);
    row.cleanup = Median(clean);
    auto mean = [&](std::pair<uint64_t, uint64_t> before, const char* cap, const char* hook) {
      auto after = snapshot(cap, hook);
      return (after.second - before.second) / 1e6 /
             std::max<uint64_t>(1, after.first - before.first);
    };
    row.means = {mean(before_tapr, "tap", "reserve"), mean(before_tap, "tap", "prepare"),
                 mean(before_natr, "nat", "reserve"), mean(before_nat, "nat", "prepare"),
                 mean(before_tapc, "tap", "cleanup"), mean(before_natc, "nat", "cleanup")};
    std::fprintf(stderr,
                 "  %d present: mean tap reserve %.3f, prepare %.3f, nat reserve %.3f, "
                 "prepare %.3f, tap cleanup %.3f, nat cleanup %.3f ms\n",
                 n, mean(before_tapr, "tap", "reserve"), mean(before_tap, "tap", "prepare"),
                 mean(before_natr, "nat", "reserve"), mean(before_nat, "nat", "prepare"),
                 mean(before_tapc, "tap", "cleanup"), mean(before_natc, "nat", "cleanup"));
    rows.push_back(row);
  }
  dispatcher.ShutdownAll();

  // ---- iptables, one exec per rule, with n VMs' rules present ----
  auto rules = [](const std::string& ip, const std::string& tap) {
    return std::vector<std::vector<std::string>>{
        {"-t", "nat", "POSTROUTING", "-s", ip + "/32", "-o", "up0", "-j", "MASQUERADE"},
        {"-t", "filter", "FORWARD", "-i", tap, "-o", "up0", "-s", ip + "/32", "-j", "ACCEPT"},
        {"-t", "filter", "FORWARD", "-i", "up0", "-o", tap, "-d", ip + "/32", "-m", "conntrack",
         "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"}};
  };
  auto exec = [](const char* op, std::vector<std::string> rule) {
    std::vector<std::string> argv{"iptables", "-w", rule[0], rule[1], op};
    argv.insert(argv.end(), rule.begin() + 2, rule.end());
    Must(RunCommand(argv).exit_code == 0, std::string("iptables ") + op);
  };
  int ipt_present = 0;
  for (auto& row : rows) {
    // Population is not timed: iptables-restore, in one go.
    std::string nat = "*nat\n", filter = "*filter\n";
    for (; ipt_present < row.present; ++ipt_present) {
      std::string ip = Ip(((10u << 24) | (128u << 16)) + 4 * ipt_present + 2);
      std::string tap = "pt" + std::to_string(ipt_present);
      nat += "-A POSTROUTING -s " + ip + "/32 -o up0 -j MASQUERADE\n";
      filter += "-A FORWARD -i " + tap + " -o up0 -s " + ip + "/32 -j ACCEPT\n";
      filter += "-A FORWARD -i up0 -o " + tap + " -d " + ip +
                "/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n";
    }
    banger::core::testing::WriteFile(dir + "/rules", nat + "COMMIT\n" + filter + "COMMIT\n");
    Must(RunWithEnv({"/usr/sbin/iptables-restore", "--noflush"}, {}, dir + "/rules") == 0,
         "iptables-restore");
    std::vector<double> add, del;
    for (int r = 0; r < exec_rounds; ++r) {
      auto rs = rules("10.200.0.2", "bt-measure");
      auto t = Clock::now();
      for (auto& rule : rs) exec("-A", rule);
      add.push_back(Ms(t));
      t = Clock::now();
      for (auto& rule : rs) exec("-D", rule);
      del.push_back(Ms(t));
    }
    row.ipt_add = Median(add);
    row.ipt_del = Median(del);
  }

  // ---- CNI ptp with ipMasq ----
  std::string ptp = "/usr/lib/cni/ptp";
  bool have_cni = std::filesystem::exists(ptp);
  std::vector<std::string> netns_made;
  if (have_cni) {
    banger::core::testing::WriteFile(
        dir + "/ptp.conf",
        "{\"cniVersion\":\"1.0.0\",\"name\":\"benchnet\",\"type\":\"ptp\",\"ipMasq\":true,"
        "\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.96.0.0/14\",\"dataDir\":\"" +
            dir + "/cni-ipam\"}}");
    auto cni = [&](const char* command, const std::string& ns) {
      return RunWithEnv(
          {ptp},
          {std::string("CNI_COMMAND=") + command, "CNI_CONTAINERID=" + ns,
           "CNI_NETNS=/var/run/netns/" + ns, "CNI_IFNAME=eth0", "CNI_PATH=/usr/lib/cni"},
          dir + "/ptp.conf");
    };
    auto make_ns = [&](const std::string& ns) {
      Must(RunCommand({"ip", "netns", "add", ns}).exit_code == 0, "ip netns add " + ns);
      netns_made.push_back(ns);
    };
    std::string prefix = "bnb" + std::to_string(getpid()) + "-";
    int cni_present = 0;
    for (auto& row : rows) {
      if (row.present > cni_max) continue;
      for (; cni_present < row.present; ++cni_present) {
        std::string ns = prefix + std::to_string(cni_present);
        make_ns(ns);
        Must(cni("ADD", ns) == 0, "ptp ADD (population)");
      }
      std::vector<double> add, del;
      for (int r = 0; r < std::max(3, exec_rounds / 2); ++r) {
        std::string ns = prefix + "m" + std::to_string(row.present) + "-" + std::to_string(r);
        make_ns(ns);
        auto t = Clock::now();
        Must(cni("ADD", ns) == 0, "ptp ADD");
        add.push_back(Ms(t));
        t = Clock::now();
        Must(cni("DEL", ns) == 0, "ptp DEL");
        del.push_back(Ms(t));
      }
      row.cni_add = Median(add);
      row.cni_del = Median(del);
    }
  }

  std::printf("per-VM network setup/teardown, medians (ms); %d banger rounds, %d exec rounds\n\n",
              rounds, exec_rounds);
  std::printf("%8s | %9s %9s %9s | %9s %9s | %9s %9s | %9s %9s\n", "VMs", "banger", "(hooks",
              "banger", "iptables", "iptables", "ptp", "ptp", "vs ipt", "vs ptp");
  std::printf("%8s | %9s %9s %9s | %9s %9s | %9s %9s | %9s %9s\n", "present", "prepare", "alone)",
              "cleanup", "add x3", "del x3", "ADD", "DEL", "(p+c)", "(p+c)");
  for (const auto& r : rows) {
    double ours = r.prepare + r.cleanup;
    char cni_add[16] = "-", cni_del[16] = "-", vs_ptp[16] = "-";
    if (r.cni_add >= 0) {
      std::snprintf(cni_add, sizeof cni_add, "%.2f", r.cni_add);
      std::snprintf(cni_del, sizeof cni_del, "%.2f", r.cni_del);
      std::snprintf(vs_ptp, sizeof vs_ptp, "%.0fx", (r.cni_add + r.cni_del) / ours);
    }
    std::printf("%8d | %9.3f %9.3f %9.3f | %9.2f %9.2f | %9s %9s | %8.0fx %9s\n", r.present,
                r.prepare, r.hooks, r.cleanup, r.ipt_add, r.ipt_del, cni_add, cni_del,
                (r.ipt_add + r.ipt_del) / ours, vs_ptp);
  }
  if (!have_cni) std::printf("(ptp: install containernetworking-plugins to compare)\n");
  if (rows.size() > 1) {
    std::printf("\nbanger at %d VMs vs at %d: prepare %.2fx, cleanup %.2fx (target <= 1.2x)\n",
                rows.back().present, rows.front().present,
                rows.back().prepare / rows.front().prepare,
                rows.back().cleanup / rows.front().cleanup);
  }
  json& f = report.figures();
  f["rounds"] = rounds;
  f["exec_rounds"] = exec_rounds;
  f["ptp"] = have_cni;
  for (const auto& r : rows) {
    json row{{"present", r.present},
             {"prepare_ms", r.prepare},
             {"hooks_ms", r.hooks},
             {"cleanup_ms", r.cleanup},
             {"iptables_add_ms", r.ipt_add},
             {"iptables_del_ms", r.ipt_del},
             {"vs_iptables", (r.ipt_add + r.ipt_del) / (r.prepare + r.cleanup)}};
    const char* names[] = {"tap_reserve_ms", "tap_prepare_ms", "nat_reserve_ms",
                           "nat_prepare_ms", "tap_cleanup_ms", "nat_cleanup_ms"};
    for (size_t k = 0; k < r.means.size(); ++k) row["hook_means"][names[k]] = r.means[k];
    if (r.cni_add >= 0) {
      row["ptp_add_ms"] = r.cni_add;
      row["ptp_del_ms"] = r.cni_del;
      row["vs_ptp"] = (r.cni_add + r.cni_del) / (r.prepare + r.cleanup);
    }
    f["rows"].push_back(row);
  }
  if (rows.size() > 1) {
    f["prepare_at_most_vs_fewest"] = rows.back().prepare / rows.front().prepare;
  }
  for (const auto& ns : netns_made) RunCommand({"ip", "netns", "del", ns});
  std::filesystem::remove_all(dir);
  return report.Write() ? 0 : 1;
}
