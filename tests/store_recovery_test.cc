// A lost store, recovered as an operator would: the agent refuses the
// emptied file and names the command; `bangerd --recover-store` rebuilds
// from the newest good copy and the VM directories, accounting for each VM;
// the agent then serves them all, re-adopts the running ones, and stops and
// removes them leaving nothing behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>

#include "core/store/vm_record.h"
#include "tests/agent_fixture.h"

namespace banger::core {
namespace {

using namespace std::chrono_literals;
using testing::RunCommand;

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

class StoreRecoveryTest : public testing::AgentFixture {
 protected:
  StoreRecoveryTest() {
    WriteConfig(std::string("vmm_binary = ") + FC_SIM_PATH + "\nstore_copy_interval = off\n", "");
  }
  std::string Id(const std::string& name) { return Api("GET", "/v1/vms/" + name)["id"]; }
  testing::CommandResult Recover() {
    return RunCommand({BANGERD_PATH, "--config", dir_ / "bangerd.conf", "--recover-store"});
  }
  std::vector<std::string> Copies() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "state/store-copies")) {
      out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  size_t VmmsOfThisTest() {
    size_t n = 0;
    for (const auto& [socket, procs] : ScanApiSocketProcesses()) {
      if (socket.rfind(dir_.path(), 0) == 0) n += procs.size();
    }
    return n;
  }
};

TEST_F(StoreRecoveryTest, AnEmptiedStoreIsRebuiltFromItsCopyAndTheVmDirectories) {
  StartAgent();
  for (const char* name : {"a", "b", "c"}) ASSERT_EQ(CreateVm(name)["state"], "created");
  ASSERT_EQ(Api("POST", "/v1/vms/a/start")["state"], "running");
  const std::string a = Id("a"), b = Id("b"), c = Id("c");
  ASSERT_EQ(agent_->Stop(SIGTERM), 0);  // a clean shutdown takes a copy
  ASSERT_EQ(Copies().size(), 1u);

  // After the copy: two VMs made (one started), one removed; then the agent
  // is killed and its store emptied.
  StartAgent("agent2.log");
  for (const char* name : {"d", "e", "f"}) ASSERT_EQ(CreateVm(name)["state"], "created");
  ASSERT_EQ(Api("POST", "/v1/vms/d/start")["state"], "running");
  ASSERT_EQ(Api("POST", "/v1/vms/f/start")["state"], "running");
  ASSERT_EQ(Api("POST", "/v1/vms/f/stop")["state"], "stopped");
  const std::string d = Id("d"), e = Id("e"), f = Id("f");
  ASSERT_EQ(Api("DELETE", "/v1/vms/c")["removed"], "c");
  agent_.reset();  // SIGKILL
  const std::string data = dir_ / "state/store/data.mdb";
  std::filesystem::resize_file(data, 0);

  {
    testing::AgentProcess refused({"--config", dir_ / "bangerd.conf"}, dir_ / "refused.log");
    EXPECT_EQ(refused.WaitExit(20s), 1) << refused.log();
    EXPECT_CONTAINS(refused.log(), "store file " + data + " is empty");
    EXPECT_CONTAINS(refused.log(), "`bangerd --recover-store` rebuilds the store");
  }

  auto run = Recover();
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_CONTAINS(run.output, "from copy " + Copies()[0]);
  EXPECT_CONTAINS(run.output, "the old store is kept at " + dir_.path() + "/state/store.replaced-");
  EXPECT_CONTAINS(run.output, "restored: vm " + a + " \"a\": from copy");
  EXPECT_CONTAINS(run.output, "restored: vm " + b + " \"b\": from copy");
  EXPECT_CONTAINS(run.output, "not restored: vm " + c + " \"c\": in copy");
  EXPECT_CONTAINS(run.output, "rebuilt partially: vm " + d + " \"d\": from its directory");
  EXPECT_CONTAINS(run.output, "rebuilt partially: vm " + e + " \"e\": from its directory");
  EXPECT_CONTAINS(run.output, "never started (no VMM log): recorded created");
  EXPECT_CONTAINS(run.output, "rebuilt partially: vm " + f +
                                  " \"f\": from its directory's manifest (name and spec as at "
                                  "create; capability handles are rediscovered); no VMM runs: the "
                                  "agent finishes its stop at start");
  EXPECT_CONTAINS(run.output, "2 restored, 3 rebuilt partially, 1 not restored");
  EXPECT_EQ(std::filesystem::file_size(Copies()[0] + "/data.mdb") > 0, true);

  StartAgent("agent3.log");
  auto vms = Api("GET", "/v1/vms");
  EXPECT_EQ(vms["vms"].size(), 5u) << vms.dump(2);
  EXPECT_TRUE(vms["orphans"].empty()) << vms.dump(2);
  EXPECT_TRUE(vms["corrupt"].empty()) << vms.dump(2);
  EXPECT_EQ(Api("GET", "/v1/vms/a")["state"], "running");
  EXPECT_EQ(Api("GET", "/v1/vms/d")["state"], "running") << "the VMM that ran is adopted";
  EXPECT_EQ(Api("GET", "/v1/vms/e")["state"], "created");
  EXPECT_EQ(Api("GET", "/v1/vms/f")["state"], "stopped");
  EXPECT_EQ(Api("GET", "/v1/vms/e")["spec"]["rootfs"], dir_ / "rootfs");
  for (const char* name : {"a", "d"}) {
    EXPECT_EQ(Api("POST", std::string("/v1/vms/") + name + "/stop")["state"], "stopped");
  }
  EXPECT_EQ(Api("POST", "/v1/vms/e/start")["state"], "running") << "a rebuilt VM starts";
  EXPECT_EQ(Api("POST", "/v1/vms/e/stop")["state"], "stopped");
  for (const char* name : {"a", "b", "d", "e", "f"}) {
    EXPECT_EQ(Api("DELETE", std::string("/v1/vms/") + name)["removed"], name) << name;
  }
  EXPECT_EQ(VmmsOfThisTest(), 0u);
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "state/vms"));
}

TEST_F(StoreRecoveryTest, ADamagedNewestCopyIsPassedOverForTheOneBefore) {
  StartAgent();
  ASSERT_EQ(CreateVm("old")["state"], "created");
  ASSERT_EQ(agent_->Stop(SIGTERM), 0);
  StartAgent("agent2.log");
  ASSERT_EQ(CreateVm("new")["state"], "created");
  ASSERT_EQ(agent_->Stop(SIGTERM), 0);
  auto copies = Copies();
  ASSERT_EQ(copies.size(), 2u);
  std::filesystem::resize_file(copies[1] + "/data.mdb", 3 * 4096);
  // A whole store is newer than any copy: not replaced unless forced.
  auto refused = Recover();
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_CONTAINS(refused.output,
                  "opens and every record reads (2 VMs): a copy is older than it; "
                  "nothing was changed (add --force to rebuild it anyway)");
  std::filesystem::resize_file(dir_ / "state/store/data.mdb", 0);

  auto run = Recover();
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_CONTAINS(run.output, "copy refused: " + copies[1] + ": store file " + copies[1]);
  EXPECT_CONTAINS(run.output, "from copy " + copies[0]);
  // "new" is not in the older copy: its directory brings it back.
  EXPECT_CONTAINS(run.output, "1 restored, 1 rebuilt partially, 0 not restored");
  StartAgent("agent3.log");
  EXPECT_EQ(Api("GET", "/v1/vms")["vms"].size(), 2u);
}

// A manifest is trusted for what it is for (name, spec) and nothing else:
// paths follow from its directory, and one not written by the agent's user
// is not used at all.
TEST_F(StoreRecoveryTest, AManifestGivesNameAndSpecOnly) {
  if (!testing::IsRoot()) GTEST_SKIP() << "needs root: a manifest owned by another user";
  StartAgent();
  ASSERT_EQ(CreateVm("web")["state"], "created");
  ASSERT_EQ(CreateVm("other")["state"], "created");
  const std::string web = Id("web"), other = Id("other");
  agent_.reset();
  auto forge = [&](const std::string& id) {
    const std::string path = dir_ / ("state/vms/" + id + "/vm.record");
    auto r = DecodeVmRecord(testing::ReadFile(path), id);
    EXPECT_TRUE(r.ok());
    r->runtime.overlay_path = "/etc/shadow";
    r->runtime.work_disk_path = "/dev/sda";
    std::filesystem::remove(path);
    testing::WriteFile(path, EncodeVmRecord(*r));
    return path;
  };
  forge(web);
  std::string foreign = forge(other);
  ASSERT_EQ(::chown(foreign.c_str(), 65534, 65534), 0);
  std::filesystem::resize_file(dir_ / "state/store/data.mdb", 0);

  auto run = Recover();
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_CONTAINS(run.output, "rebuilt partially: vm " + web + " \"web\"");
  EXPECT_CONTAINS(run.output, "not restored: vm " + other + ": its directory");
  EXPECT_CONTAINS(run.output, "is not a regular file of the agent's user");
  StartAgent("agent2.log");
  auto vm = Api("GET", "/v1/vms/web");
  EXPECT_EQ(vm["runtime"]["overlay_path"], dir_ / ("state/vms/" + web + "/system.img"));
  EXPECT_EQ(vm["runtime"]["work_disk_path"], "");
}

// A VM made before manifests existed gets one at the agent's next start.
TEST_F(StoreRecoveryTest, AVmDirectoryWithoutAManifestGetsOneAtStart) {
  StartAgent();
  ASSERT_EQ(CreateVm("web")["state"], "created");
  const std::string manifest = dir_ / ("state/vms/" + Id("web") + "/vm.record");
  agent_.reset();
  ASSERT_TRUE(std::filesystem::remove(manifest));
  StartAgent("agent2.log");
  auto r = DecodeVmRecord(testing::ReadFile(manifest), Id("web"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->name, "web");
}

TEST_F(StoreRecoveryTest, ARecoveryIsRefusedWhileTheAgentRuns) {
  StartAgent();
  auto run = Recover();
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_CONTAINS(run.output, "(stop the agent first)");
  EXPECT_EQ(Api("GET", "/v1/vms")["vms"].size(), 0u) << "the agent serves on";
}

}  // namespace
}  // namespace banger::core
