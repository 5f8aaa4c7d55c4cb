// The plugin host against real capability files: every loader outcome,
// dependency ordering, init results, hook dispatch and the host table.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include <banger/capability.hpp>
#include <banger/testing.hpp>

#include "core/agent/agent_config.h"
#include "core/api/metrics_exposition.h"
#include "core/lifecycle/lifecycle_backend.h"
#include "core/lifecycle/vm_view.h"
#include "core/plugin_host/hook_dispatcher.h"
#include "core/plugin_host/host_table.h"
#include "core/plugin_host/plugin_registry.h"
#include "core/plugin_host/tick_scheduler.h"
#include "core/store/vm_store.h"
#include "tests/test_support.h"

namespace banger::core {
namespace {

using testing::CopyPlugins;
using testing::TempDir;

class PluginHostTest : public ::testing::Test {
 protected:
  PluginHostTest()
      : plugin_dir_(dir_ / "plugins"),
        log_path_(dir_ / "agent.log"),
        log_fd_(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644)),
        logger_(LogLevel::kDebug, LogFormat::kText, log_fd_) {
    std::filesystem::create_directories(plugin_dir_);
  }
  ~PluginHostTest() override {
    if (dispatcher_) dispatcher_->ShutdownAll();
    ::close(log_fd_);
  }

  // Loads the plugin dir with `config_text` ([core] plugin_dirs is added).
  void Discover(const std::string& config_text, bool allow_symlinks = false) {
    auto cfg =
        ParseAgentConfig("[core]\nplugin_dirs = " + plugin_dir_ + "\n" + config_text, "test.conf");
    ASSERT_TRUE(cfg.ok()) << cfg.status().message();
    config_ = *cfg;
    config_.allow_plugin_symlinks = allow_symlinks;
    registry_ = PluginRegistry::Discover(config_, {allow_symlinks, ::geteuid()});
    host_table_ = std::make_unique<HostTable>(logger_, verbs_);
    dispatcher_ = std::make_unique<HookDispatcher>(*registry_, *host_table_, logger_);
  }

  std::string StatusOf(const std::string& name) {
    Plugin* p = registry_->Find(name);
    return p ? p->StatusText() : "(absent)";
  }

  std::vector<std::string> Order() {
    std::vector<std::string> names;
    for (Plugin* p : registry_->ordered()) names.push_back(p->name);
    return names;
  }

  std::string Log() { return testing::ReadFile(log_path_); }

  // A store and the VM backend over it, attached to the host table (before
  // init, as the agent does).
  void AttachStore() {
    auto store = VmStore::Open({dir_ / "store", 1u << 20});
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store.value());
    handles_ = std::make_unique<HandleStore>(*store_);
    backend_ = std::make_unique<LifecycleBackend>(*store_, *handles_);
    host_table_->AttachVmBackend(backend_.get());
  }

  TempDir dir_;
  std::string plugin_dir_, log_path_;
  int log_fd_;
  Logger logger_;
  AgentConfig config_;
  VerbRegistry verbs_;
  std::unique_ptr<PluginRegistry> registry_;
  std::unique_ptr<HostTable> host_table_;
  std::unique_ptr<HookDispatcher> dispatcher_;
  std::unique_ptr<VmStore> store_;  // with AttachStore
  std::unique_ptr<HandleStore> handles_;
  std::unique_ptr<LifecycleBackend> backend_;
};

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

TEST_F(PluginHostTest, GoodPluginsLoadInDependencyOrder) {
  CopyPlugins(plugin_dir_, {"plain-c", "needs-plain-c", "recorder"});
  Discover("[plugins]\nenable = needs-plain-c, recorder, plain-c\n");
  EXPECT_EQ(Order(), (std::vector<std::string>{"plain-c", "needs-plain-c", "recorder"}));
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  EXPECT_EQ(StatusOf("plain-c"), "ok");
  EXPECT_EQ(StatusOf("needs-plain-c"), "ok");
  EXPECT_EQ(StatusOf("recorder"), "ok");
  Plugin* rec = registry_->Find("recorder");
  EXPECT_EQ(rec->library->version, "1.2.3");
  EXPECT_EQ(DescribeHooks(rec->library->hooks),
            "init,prepare,cleanup,tick(50ms),query,shutdown,rediscover,validate_options,command");
  EXPECT_EQ(DescribeHooks(registry_->Find("plain-c")->library->hooks),
            "init,prepare,cleanup,shutdown");
  // init ran in dependency order
  std::string log = Log();
  EXPECT_LT(log.find("plain-c: hook init"), log.find("needs-plain-c: hook init"));
}

TEST_F(PluginHostTest, FoundButNotEnabledIsDisabled) {
  CopyPlugins(plugin_dir_, {"plain-c", "recorder"});
  Discover("[plugins]\nenable = recorder\n");
  EXPECT_EQ(StatusOf("plain-c"), "disabled");
  EXPECT_EQ(Order(), std::vector<std::string>{"recorder"});
}

TEST_F(PluginHostTest, WrongAbiMajorIsRefusedNamingBothVersions) {
  CopyPlugins(plugin_dir_, {"wrong-major"});
  Discover("[plugins]\nenable = wrong-major\n");
  EXPECT_CONTAINS(StatusOf("wrong-major"),
                  "error: built for capability ABI 2.0, this agent speaks ABI 1.3 (majors must "
                  "match)");
}

TEST_F(PluginHostTest, NewerAbiMinorIsRefusedNamingBothVersions) {
  CopyPlugins(plugin_dir_, {"newer-minor"});
  Discover("[plugins]\nenable = newer-minor\n");
  EXPECT_CONTAINS(StatusOf("newer-minor"),
                  "needs capability ABI 1.7 or later, this agent speaks ABI 1.3");
}

TEST_F(PluginHostTest, AnOlderMinorLoads) {
  CopyPlugins(plugin_dir_, {"older-minor"});
  Discover("[plugins]\nenable = older-minor\n");
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  EXPECT_EQ(StatusOf("older-minor"), "ok");
  EXPECT_EQ(registry_->Find("older-minor")->library->abi_minor, 0);
}

TEST_F(PluginHostTest, MissingEntrySymbol) {
  CopyPlugins(plugin_dir_, {"no-entry"});
  Discover("[plugins]\nenable = no-entry\n");
  EXPECT_CONTAINS(StatusOf("no-entry"), "error: no entry symbol banger_capability_entry");
}

TEST_F(PluginHostTest, NotAnElfFile) {
  std::filesystem::copy_file(testing::TestPluginPath("not-elf"), plugin_dir_ + "/not-elf.so");
  ::chmod((plugin_dir_ + "/not-elf.so").c_str(), 0644);
  Discover("[plugins]\nenable = not-elf\n");
  EXPECT_EQ(StatusOf("not-elf"), "error: not an ELF shared object");
}

TEST_F(PluginHostTest, DuplicateNameKeepsTheFirstAndRefusesTheSecond) {
  CopyPlugins(plugin_dir_, {"plain-c", "plain-c-again"});
  Discover("[plugins]\nenable = plain-c\n");
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  int ok = 0, dup = 0;
  for (const auto& p : registry_->all()) {
    if (p->name != "plain-c") continue;
    if (p->state == PluginState::kOk) ++ok;
    // Files load in name order: plain-c-again.so comes before plain-c.so.
    if (p->reason.find("duplicate name 'plain-c': already provided by " + plugin_dir_ +
                       "/plain-c-again.so") != std::string::npos) {
      ++dup;
    }
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(dup, 1);
}

TEST_F(PluginHostTest, MissingDependency) {
  CopyPlugins(plugin_dir_, {"needs-missing", "needs-plain-c", "plain-c"});
  Discover("[plugins]\nenable = needs-missing, needs-plain-c\n");
  EXPECT_EQ(StatusOf("needs-missing"),
            "error: requires 'nonexistent', which is not installed in any plugin dir");
  EXPECT_EQ(StatusOf("needs-plain-c"),
            "error: requires 'plain-c', which is not enabled (add it to [plugins] enable)");
}

TEST_F(PluginHostTest, DependencyCycle) {
  CopyPlugins(plugin_dir_, {"cycle-a", "cycle-b", "plain-c"});
  Discover("[plugins]\nenable = cycle-a, cycle-b, plain-c\n");
  EXPECT_EQ(StatusOf("cycle-a"), "error: dependency cycle: cycle-a -> cycle-b -> cycle-a");
  EXPECT_EQ(StatusOf("cycle-b"), "error: dependency cycle: cycle-a -> cycle-b -> cycle-a");
  EXPECT_EQ(Order(), std::vector<std::string>{"plain-c"});
  EXPECT_TRUE(dispatcher_->InitAll().ok());  // optional failures leave the rest running
  EXPECT_EQ(StatusOf("plain-c"), "ok");
}

TEST_F(PluginHostTest, InitErrorAndItsDependents) {
  CopyPlugins(plugin_dir_, {"init-error", "after-error", "plain-c"});
  Discover("[plugins]\nenable = init-error, after-error, plain-c\n");
  EXPECT_TRUE(dispatcher_->InitAll().ok());
  EXPECT_EQ(StatusOf("init-error"),
            "error: init failed: cannot open /dev/banger-test: no such device");
  EXPECT_CONTAINS(StatusOf("after-error"), "error: requires 'init-error', which is error: init");
  EXPECT_EQ(StatusOf("plain-c"), "ok");
  auto snap = registry_->Find("init-error")->stats.Snapshot();
  EXPECT_EQ(snap.hooks["init"].calls, 1u);
  EXPECT_EQ(snap.hooks["init"].failures, 1u);
  EXPECT_CONTAINS(snap.last_error, "init: cannot open /dev/banger-test");
}

TEST_F(PluginHostTest, InitSkip) {
  CopyPlugins(plugin_dir_, {"init-skip"});
  Discover("[plugins]\nenable = init-skip\n");
  EXPECT_TRUE(dispatcher_->InitAll().ok());
  EXPECT_EQ(StatusOf("init-skip"), "skip: needs a kernel feature this host lacks");
  EXPECT_TRUE(dispatcher_->Running().empty());
}

TEST_F(PluginHostTest, ThrowingHelperPluginBecomesInitError) {
  CopyPlugins(plugin_dir_, {"thrower"});
  Discover("[plugins]\nenable = thrower\n");
  EXPECT_TRUE(dispatcher_->InitAll().ok());
  EXPECT_EQ(StatusOf("thrower"),
            "error: init failed: unhandled exception: recorder refuses to start: RECORDER_THROW "
            "was set");
}

TEST_F(PluginHostTest, ExceptionEscapingRawPluginIsCaughtByTheHost) {
  CopyPlugins(plugin_dir_, {"raw-thrower"});
  Discover("[plugins]\nenable = raw-thrower\n");
  EXPECT_TRUE(dispatcher_->InitAll().ok());
  EXPECT_EQ(StatusOf("raw-thrower"),
            "error: init failed: threw an exception: raw exception escaping init");
}

TEST_F(PluginHostTest, GroupWritableFileIsRefused) {
  CopyPlugins(plugin_dir_, {"plain-c"});
  ::chmod((plugin_dir_ + "/plain-c.so").c_str(), 0775);
  Discover("[plugins]\nenable = plain-c\n");
  EXPECT_EQ(StatusOf("plain-c"),
            "error: writable by group or others (mode 0775); run chmod go-w on it");
}

TEST_F(PluginHostTest, WorldWritableFileIsRefused) {
  CopyPlugins(plugin_dir_, {"plain-c"});
  ::chmod((plugin_dir_ + "/plain-c.so").c_str(), 0757);
  Discover("[plugins]\nenable = plain-c\n");
  EXPECT_CONTAINS(StatusOf("plain-c"), "writable by group or others (mode 0757)");
}

TEST_F(PluginHostTest, FileOwnedBySomeoneElseIsRefused) {
  if (!testing::IsRoot()) GTEST_SKIP() << "needs root to chown a file to another uid";
  CopyPlugins(plugin_dir_, {"plain-c"});
  ASSERT_EQ(::chown((plugin_dir_ + "/plain-c.so").c_str(), 65534, 65534), 0);
  Discover("[plugins]\nenable = plain-c\n");
  EXPECT_CONTAINS(StatusOf("plain-c"),
                  "error: owned by uid 65534; a capability must be owned by root");
}

TEST_F(PluginHostTest, SymlinkRefusedUnlessAllowed) {
  std::filesystem::create_symlink(testing::TestPluginPath("plain-c"), plugin_dir_ + "/plain-c.so");
  Discover("[plugins]\nenable = plain-c\n");
  EXPECT_CONTAINS(StatusOf("plain-c"), "is a symbolic link; refusing it");
  Discover("[plugins]\nenable = plain-c\n", /*allow_symlinks=*/true);
  EXPECT_EQ(StatusOf("plain-c"), "loaded");
}

TEST_F(PluginHostTest, EnabledButNotFound) {
  Discover("[plugins]\nenable = ghost\n");
  EXPECT_EQ(StatusOf("ghost"),
            "error: enabled, but no plugin dir has it (looked in " + plugin_dir_ + ")");
}

TEST_F(PluginHostTest, MissingPluginDirIsAWarning) {
  auto cfg = ParseAgentConfig("[core]\nplugin_dirs = /nonexistent/banger\n", "t");
  auto reg = PluginRegistry::Discover(*cfg, {false, ::geteuid()});
  ASSERT_EQ(reg->warnings().size(), 1u);
  EXPECT_CONTAINS(reg->warnings()[0], "plugin dir /nonexistent/banger");
}

TEST_F(PluginHostTest, RequiredPluginFailureFailsInit) {
  CopyPlugins(plugin_dir_, {"init-error", "plain-c"});
  Discover("[plugins]\nenable = plain-c\nrequired = init-error\n");
  Status s = dispatcher_->InitAll();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "required capability not running: init-error: error: init failed: cannot open "
            "/dev/banger-test: no such device");
}

TEST_F(PluginHostTest, RequiredSkipFailsInitToo) {
  CopyPlugins(plugin_dir_, {"init-skip"});
  Discover("[plugins]\nrequired = init-skip\n");
  EXPECT_FALSE(dispatcher_->InitAll().ok());
}

TEST_F(PluginHostTest, UnknownConfigKeyOfADeclaringPluginIsAnError) {
  CopyPlugins(plugin_dir_, {"recorder"});
  Discover("[plugins]\nenable = recorder\n[recorder]\ngreeting = hi\ncolour = blue\n");
  EXPECT_EQ(StatusOf("recorder"),
            "error: config error: test.conf:7: [recorder] colour: unknown key; it takes: greeting, "
            "cleanup_delay_ms");
}

TEST_F(PluginHostTest, ConfigReachesThePlugin) {
  CopyPlugins(plugin_dir_, {"recorder"});
  Discover("[plugins]\nenable = recorder\n[recorder]\ngreeting = bonjour\n");
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  EXPECT_CONTAINS(Log(), "recorder: hook init bonjour");
}

banger_vm MakeVm(const char* name) {
  banger_vm vm{};
  vm.struct_size = sizeof vm;
  vm.id = "0123456789abcdef0123456789abcdef";
  vm.name = name;
  vm.state = "starting";
  vm.api_socket = vm.vsock_path = vm.metrics_path = vm.log_path = vm.overlay_path =
      vm.work_disk_path = "";
  return vm;
}

TEST_F(PluginHostTest, PrepareInOrderCleanupInReverse) {
  CopyPlugins(plugin_dir_, {"plain-c", "recorder"});
  Discover("[plugins]\nenable = plain-c, recorder\n");
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  ASSERT_TRUE(dispatcher_->Prepare(MakeVm("web-1")).ok());
  ASSERT_TRUE(dispatcher_->Cleanup(MakeVm("web-1")).ok());
  std::string log = Log();
  auto p1 = log.find("plain-c: hook prepare web-1"), p2 = log.find("recorder: hook prepare web-1");
  auto c1 = log.find("plain-c: hook cleanup web-1"), c2 = log.find("recorder: hook cleanup web-1");
  ASSERT_NE(p1, std::string::npos);
  ASSERT_NE(c1, std::string::npos);
  EXPECT_LT(p1, p2);
  EXPECT_LT(p2, c2);
  EXPECT_LT(c2, c1);
}

TEST_F(PluginHostTest, FailedPrepareRollsBackWhatWasPrepared) {
  CopyPlugins(plugin_dir_, {"plain-c", "recorder"});
  Discover("[plugins]\nenable = plain-c, recorder\n");
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  Status s = dispatcher_->Prepare(MakeVm("fail-prepare"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "recorder: prepare vm \"fail-prepare\": prepare refused by test");
  std::string log = Log();
  EXPECT_CONTAINS(log, "recorder: hook cleanup fail-prepare");
  EXPECT_CONTAINS(log, "plain-c: hook cleanup fail-prepare");
  EXPECT_LT(log.find("recorder: hook cleanup fail-prepare"),
            log.find("plain-c: hook cleanup fail-prepare"));
}

TEST_F(PluginHostTest, QueryAnswersRegisteredVerbAndContainsThrows) {
  CopyPlugins(plugin_dir_, {"recorder"});
  Discover("[plugins]\nenable = recorder\n");
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  auto verb = verbs_.Find("echo");
  ASSERT_TRUE(verb.has_value());
  EXPECT_EQ(verb->capability, "recorder");
  auto reply = dispatcher_->Query("recorder", "echo", MakeVm("web-1"), "{}");
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_EQ(*reply, R"({"verb":"echo","greeting":"hello","during_cleanup":false})");
  auto bad = dispatcher_->Query("recorder", "echo", MakeVm("throw"), "{}");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "recorder: echo: unhandled exception: query threw on purpose");
  auto snap = registry_->Find("recorder")->stats.Snapshot();
  EXPECT_EQ(snap.hooks["query"].calls, 2u);
  EXPECT_EQ(snap.hooks["query"].failures, 1u);
}

// The host's writer, called from a C capability's frames (built without
// unwind tables), with a length std::string cannot hold: it used to throw
// length_error through them, which ends the agent.
TEST_F(PluginHostTest, AWriteTheReplyCannotHoldIsRefusedNotThrownIntoTheCapability) {
  CopyPlugins(plugin_dir_, {"absurd-reply"});
  Discover("[plugins]\nenable = absurd-reply\n");
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  auto reply = dispatcher_->Query("absurd-reply", "blob", MakeVm("web-1"), "{}");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().message(),
            "absurd-reply: blob: its reply was not kept (over 16 MiB, or written from a null "
            "pointer)");
}

// The other way: a C++ capability's visitor throws inside vm_list. The SDK
// used to let it unwind through the host, which reported "host error"; it
// now comes back out in the capability, with its own message.
TEST_F(PluginHostTest, AVisitorThatThrowsIsRethrownInTheCapabilityNotInTheHost) {
  CopyPlugins(plugin_dir_, {"recorder"});
  Discover("[plugins]\nenable = recorder\n");
  AttachStore();
  VmRecord vm;
  vm.id = NewVmId();
  vm.name = "visit-throw";
  ASSERT_TRUE(store_->Upsert(vm).ok());
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  auto reply = dispatcher_->Query("recorder", "echo", MakeVm("visit-throw"), "{}");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().message(), "recorder: echo: unhandled exception: visitor threw");
}

// tests/abi: built against the 1.0 header as released. It must keep loading
// and working: its hooks run, its handles are kept, its verb answers.
TEST_F(PluginHostTest, ACapabilityBuiltAgainstTheFrozen10HeaderLoadsAndWorks) {
  CopyPlugins(plugin_dir_, {"abi-v1-0"});
  Discover("[plugins]\nenable = abi-v1-0\n");
  AttachStore();
  VmRecord vm;
  vm.id = "0123456789abcdef0123456789abcdef";  // MakeVm's
  vm.name = "web-1";
  ASSERT_TRUE(store_->Upsert(vm).ok());
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  Plugin* p = registry_->Find("abi-v1-0");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(StatusOf("abi-v1-0"), "ok");
  EXPECT_EQ(p->library->abi_minor, 0);
  EXPECT_EQ(p->library->hooks.rediscover, nullptr) << "a 1.0 slot read as a hook";
  ASSERT_TRUE(dispatcher_->Prepare(MakeVm("web-1")).ok());
  EXPECT_EQ((*store_->Get(vm.id))->handles.at("abi-v1-0").at("marker"), "from-1.0");
  auto reply = dispatcher_->Query("abi-v1-0", "abi10", MakeVm("web-1"), "{}");
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_EQ(*reply, R"({"verb":"abi10","vm":"web-1","prepared":true})");
  ASSERT_TRUE(dispatcher_->Cleanup(MakeVm("web-1")).ok());
  EXPECT_EQ((*store_->Get(vm.id))->handles.count("abi-v1-0"), 0u);
  EXPECT_CONTAINS(Log(), "abi-v1-0: hook cleanup web-1");
}

// A refused file is listed once, under the name its descriptor gives: not
// also as an enabled capability no plugin dir has.
TEST_F(PluginHostTest, ARefusedFileIsListedOnceUnderItsCapabilityName) {
  std::filesystem::copy_file(testing::TestPluginPath("newer-minor"),
                             plugin_dir_ + "/newer-minor-v2.so");
  Discover("[plugins]\nenable = newer-minor\n");
  ASSERT_EQ(registry_->all().size(), 1u);
  EXPECT_EQ(registry_->all()[0]->name, "newer-minor");
  EXPECT_EQ(registry_->all()[0]->path, plugin_dir_ + "/newer-minor-v2.so");
  EXPECT_CONTAINS(StatusOf("newer-minor"), "error: needs capability ABI 1.7 or later");
}

TEST_F(PluginHostTest, ADescriptorWithAReservedSlotSetIsRefused) {
  CopyPlugins(plugin_dir_, {"reserved-set"});
  Discover("[plugins]\nenable = reserved-set\n");
  EXPECT_CONTAINS(StatusOf("reserved-set"),
                  "reserved slot 0 of the descriptor is not zero: built against a header of a "
                  "newer minor");
}

TEST_F(PluginHostTest, EachCapabilityGetsADirectoryOfItsOwn) {
  CopyPlugins(plugin_dir_, {"recorder", "plain-c"});
  Discover("[plugins]\nenable = recorder, plain-c\n");
  host_table_->SetStateRoot(dir_ / "state/capabilities");
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  struct stat st;
  ASSERT_EQ(::stat((dir_ / "state/capabilities/recorder").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_CONTAINS(Log(), "recorder: state dir " + (dir_ / "state/capabilities/recorder"));
  EXPECT_TRUE(std::filesystem::is_directory(dir_ / "state/capabilities/plain-c"));
}

TEST_F(PluginHostTest, TickIntervalFromConfigOverridesTheDescriptors) {
  CopyPlugins(plugin_dir_, {"recorder", "plain-c"});
  Discover("[plugins]\nenable = recorder\n[recorder]\ntick_interval = 2s\n");
  EXPECT_EQ(StatusOf("recorder"), "loaded") << "tick_interval is the host's key, not unknown";
  EXPECT_EQ(registry_->Find("recorder")->library->hooks.tick_interval_ms, 2000u);
  Discover("[plugins]\nenable = recorder\n[recorder]\ntick_interval = soon\n");
  EXPECT_EQ(StatusOf("recorder"),
            "error: config error: test.conf:6: [recorder] tick_interval: 'soon' is not a duration "
            "above 0; "
            "write it like 500ms or 2s");
  Discover("[plugins]\nenable = plain-c\n[plain-c]\ntick_interval = 1s\n");
  EXPECT_EQ(StatusOf("plain-c"),
            "error: config error: test.conf:6: [plain-c] tick_interval: plain-c has no tick hook");
}

TEST_F(PluginHostTest, HandleKeysAndValuesHaveStatedLimits) {
  CopyPlugins(plugin_dir_, {"recorder"});
  Discover("[plugins]\nenable = recorder\n");
  AttachStore();
  VmRecord vm;
  vm.id = NewVmId();
  vm.name = "web-1";
  ASSERT_TRUE(store_->Upsert(vm).ok());
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  const banger_host* t = host_table_->TableFor(*registry_->Find("recorder"));
  char text[256];
  banger_message msg{text, sizeof text};
  std::string key(BANGER_HANDLE_KEY_MAX + 1, 'k'), value(BANGER_HANDLE_VALUE_MAX + 1, 'v');
  EXPECT_EQ(t->handle_set(t, vm.id.c_str(), key.c_str(), "x", &msg), BANGER_INVALID);
  EXPECT_CONTAINS(text, "is 65 bytes; keys are 1 to 64");
  EXPECT_EQ(t->handle_set(t, vm.id.c_str(), "k", value.c_str(), &msg), BANGER_INVALID);
  EXPECT_CONTAINS(text, "handle_set: the value of 'k' is 1025 bytes; values are at most 1024");
  value.pop_back();
  ASSERT_EQ(t->handle_set(t, vm.id.c_str(), "k", value.c_str(), &msg), BANGER_OK) << text;
  char small[16];
  EXPECT_EQ(t->handle_get(t, vm.id.c_str(), nullptr, "k", small, sizeof small, &msg),
            BANGER_TRUNCATED);
  EXPECT_CONTAINS(text, "needs 1025 bytes (1024 and the NUL); was given 16");
  // The SDK's one buffer holds any value.
  auto got = banger::Host(t).HandleGet(vm.id, "k");
  ASSERT_TRUE(got.ok()) << got.status.message();
  EXPECT_EQ(got.value, value);
}

// A bad value in a capability's section names the file, line, section and
// key (the SDK's ConfigError), never "unhandled exception".
TEST_F(PluginHostTest, AConfigErrorInACapabilitysSectionNamesFileLineAndKey) {
  std::filesystem::copy_file(std::string(BANGER_PLUGIN_DIR) + "/stats.so",
                             plugin_dir_ + "/stats.so");
  Discover("[plugins]\nenable = stats\n[stats]\ninterval = 5x\n");
  dispatcher_->InitAll();
  EXPECT_EQ(StatusOf("stats"),
            "error: config error: test.conf:6: [stats] interval: '5x' is not a duration; write it "
            "like 500ms, 10s, 2h or 0");
}

TEST_F(PluginHostTest, TicksRunAtTheCapabilitysInterval) {
  CopyPlugins(plugin_dir_, {"recorder"});
  Discover("[plugins]\nenable = recorder\n");
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  TickScheduler ticks(*dispatcher_, logger_);
  ticks.Start();
  EXPECT_TRUE(testing::WaitFor([&] { return Log().find("hook tick first") != std::string::npos; }));
  ticks.Stop();
  EXPECT_GE(registry_->Find("recorder")->stats.Snapshot().hooks["tick"].calls, 1u);
}

TEST_F(PluginHostTest, ShutdownRunsInReverseOrder) {
  CopyPlugins(plugin_dir_, {"plain-c", "needs-plain-c"});
  Discover("[plugins]\nenable = plain-c, needs-plain-c\n");
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  dispatcher_->ShutdownAll();
  std::string log = Log();
  EXPECT_LT(log.find("needs-plain-c: hook shutdown"), log.find("plain-c: hook shutdown"));
}

TEST_F(PluginHostTest, ServicesWithoutBackingAnswerUnavailable) {
  CopyPlugins(plugin_dir_, {"plain-c"});
  Discover("[plugins]\nenable = plain-c\n");
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  const banger_host* host = host_table_->TableFor(*registry_->Find("plain-c"));
  char text[256] = {0};
  banger_message msg{text, sizeof text};
  EXPECT_EQ(host->handle_set(host, "abc", "tap", "bt0", &msg), BANGER_UNAVAILABLE);
  EXPECT_STREQ(text, "handle_set is not available: this agent has no VM backend attached");
  char out[16];
  EXPECT_EQ(host->handle_get(host, "abc", nullptr, "tap", out, sizeof out, &msg),
            BANGER_UNAVAILABLE);
  EXPECT_EQ(host->vm_list(
                host, [](void*, const banger_vm*) {}, nullptr, &msg),
            BANGER_UNAVAILABLE);
  EXPECT_EQ(host->vm_request_stop(host, "abc", "test", &msg), BANGER_UNAVAILABLE);
  EXPECT_EQ(host->stats_publish(host, nullptr, 0, &msg), BANGER_UNAVAILABLE);
  // verb_register is only allowed during init
  EXPECT_EQ(host->verb_register(host, "late", "", &msg), BANGER_INVALID);
}

TEST_F(PluginHostTest, ExecServiceRunsArgvWithTimeout) {
  CopyPlugins(plugin_dir_, {"plain-c"});
  Discover("[plugins]\nenable = plain-c\n");
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  const banger_host* host = host_table_->TableFor(*registry_->Find("plain-c"));
  char text[256] = {0};
  banger_message msg{text, sizeof text};
  std::string output;
  banger_writer w{&output, [](void* c, const char* d, size_t n) {
                    static_cast<std::string*>(c)->append(d, n);
                  }};
  banger_exec_result r{sizeof r, -1, 0, 0};
  const char* argv[] = {"echo", "a;b", nullptr};
  EXPECT_EQ(host->exec(host, argv, 5000, &w, &r, &msg), BANGER_OK);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(output, "a;b\n");
  const char* slow[] = {"sleep", "10", nullptr};
  EXPECT_EQ(host->exec(host, slow, 100, nullptr, &r, &msg), BANGER_TIMEOUT);
  EXPECT_EQ(r.timed_out, 1);
  EXPECT_STREQ(text, "sleep was killed after 100 ms");
  const char* config_value = nullptr;
  EXPECT_EQ(host->config_get(host, "nothing", &config_value), BANGER_NOT_FOUND);
}

// stats_publish through the table: each capability's figures merge into the
// VM's, in one transaction, without rewriting the record; bad entries are
// refused whole with a message saying which.
TEST_F(PluginHostTest, StatsPublishMergesFiguresInOneTransaction) {
  CopyPlugins(plugin_dir_, {"recorder", "plain-c"});
  Discover("[plugins]\nenable = recorder, plain-c\n");
  AttachStore();
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  VmRecord a, b;
  a.id = NewVmId();
  a.name = "a";
  b.id = NewVmId();
  b.name = "b";
  ASSERT_TRUE(store_->UpsertMany({a, b}).ok());
  VmRecordPtr record_before = *store_->Get(a.id);
  const banger_host* rec = host_table_->TableFor(*registry_->Find("recorder"));
  const banger_host* plain = host_table_->TableFor(*registry_->Find("plain-c"));
  char text[256] = {0};
  banger_message msg{text, sizeof text};

  banger_stat first[] = {{"cpu_percent", 1.5}, {"rss_bytes", 4096}};
  banger_stat first_again[] = {{"cpu_percent", 99}};
  banger_stat second[] = {{"cpu_percent", 2.5}};
  std::string gone = NewVmId();
  banger_vm_stats batch[] = {{a.id.c_str(), first, 2},
                             {b.id.c_str(), second, 1},
                             {a.id.c_str(), first_again, 1},  // listed twice: the first counts
                             {gone.c_str(), second, 1}};      // no such VM: skipped
  uint64_t commits = store_->commits();
  ASSERT_EQ(rec->stats_publish(rec, batch, 4, &msg), BANGER_OK) << text;
  EXPECT_EQ(store_->commits() - commits, 1u);
  banger_stat health[] = {{"health_ok", 1}};
  banger_vm_stats other[] = {{a.id.c_str(), health, 1}};
  ASSERT_EQ(plain->stats_publish(plain, other, 1, &msg), BANGER_OK) << text;
  auto figures = store_->Stats(a.id);
  ASSERT_NE(figures, nullptr);
  EXPECT_EQ(figures->values, (std::vector<std::pair<std::string_view, double>>{
                                 {"cpu_percent", 1.5}, {"rss_bytes", 4096}, {"health_ok", 1}}));
  EXPECT_GT(figures->collected_at_ms, 0);
  EXPECT_EQ(store_->Stats(b.id)->values.at(0).second, 2.5);
  EXPECT_EQ(*store_->Get(a.id), record_before) << "the record was rewritten for its figures";

  banger_stat unnamed[] = {{nullptr, 1}};
  banger_vm_stats bad[] = {{a.id.c_str(), unnamed, 1}};
  commits = store_->commits();
  EXPECT_EQ(rec->stats_publish(rec, bad, 1, &msg), BANGER_INVALID);
  EXPECT_EQ(std::string(text), "stats_publish: stat 0 of vm " + a.id + " has no name");
  banger_vm_stats no_id[] = {{nullptr, first, 2}};
  EXPECT_EQ(rec->stats_publish(rec, no_id, 1, &msg), BANGER_INVALID);
  EXPECT_STREQ(text, "stats_publish: entry 0 has no vm_id or no stats");
  EXPECT_EQ(store_->commits(), commits) << "a refused batch was written";
  dispatcher_->ShutdownAll();
  dispatcher_.reset();
}

// figures_publish: each figure says whether it is a counter or a gauge, its
// unit and help; names follow Prometheus' rules; the exposition types them.
TEST_F(PluginHostTest, TypedFiguresAreCheckedAndExportedWithTheirKind) {
  CopyPlugins(plugin_dir_, {"recorder", "plain-c"});
  Discover("[plugins]\nenable = recorder, plain-c\n");
  AttachStore();
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  VmRecord a;
  a.id = NewVmId();
  a.name = "a";
  ASSERT_TRUE(store_->Upsert(a).ok());
  const banger_host* rec = host_table_->TableFor(*registry_->Find("recorder"));
  const banger_host* plain = host_table_->TableFor(*registry_->Find("plain-c"));
  char text[256] = {0};
  banger_message msg{text, sizeof text};
  auto figure = [](uint32_t kind, const char* name, double v, const char* unit, const char* help) {
    return banger_figure{sizeof(banger_figure), kind, name, v, unit, help};
  };
  banger_figure good[] = {
      figure(BANGER_FIGURE_COUNTER, "rx_bytes_total", 1024, "bytes", "Bytes in."),
      figure(BANGER_FIGURE_GAUGE, "temperature_celsius", 21.5, "celsius", nullptr)};
  banger_vm_figures batch[] = {{sizeof(banger_vm_figures), a.id.c_str(), good, 2}};
  ASSERT_EQ(rec->figures_publish(rec, batch, 1, &msg), BANGER_OK) << text;
  banger_stat untyped[] = {{"health_ok", 1}};
  banger_vm_stats old[] = {{a.id.c_str(), untyped, 1}};
  ASSERT_EQ(plain->stats_publish(plain, old, 1, &msg), BANGER_OK) << text;

  struct Case {
    banger_figure f;
    const char* error;
  };
  const Case refused[] = {
      {figure(BANGER_FIGURE_COUNTER, "rx_bytes", 1, "bytes", nullptr),
       "figures_publish: figure 'rx_bytes' is a counter: its name ends with _total"},
      {figure(BANGER_FIGURE_GAUGE, "queue_total", 1, "", nullptr),
       "figures_publish: figure 'queue_total' is a gauge: _total is for counters"},
      {figure(BANGER_FIGURE_GAUGE, "uptime", 1, "seconds", nullptr),
       "figures_publish: figure 'uptime' has unit 'seconds': its name ends with _seconds"},
      {figure(BANGER_FIGURE_GAUGE, "Rx-Bytes", 1, "", nullptr),
       "figures_publish: figure 'Rx-Bytes': a name is 1 to 63 of a-z 0-9 _, starting with a "
       "letter"},
      {figure(BANGER_FIGURE_GAUGE, "rx_bytes_total", 1, "bytes", nullptr),
       "figures_publish: figure 'rx_bytes_total' is a gauge: _total is for counters"},
      // Base units only, as Prometheus' naming guide (and promtool) wants.
      {figure(BANGER_FIGURE_GAUGE, "latency_ms", 1, "", nullptr),
       "figures_publish: figure 'latency_ms': 'ms' is not a base unit: use seconds"},
      {figure(BANGER_FIGURE_GAUGE, "cpu_percent", 1, "percent", nullptr),
       "figures_publish: figure 'cpu_percent': 'percent' is not a base unit: use ratio (0 to 1)"},
      {figure(BANGER_FIGURE_GAUGE, "heap_size", 1, "pages", nullptr),
       "figures_publish: figure 'heap_size' has unit 'pages': a unit is a base unit (seconds, "
       "bytes, ratio, ...) or none"},
  };
  for (const auto& c : refused) {
    banger_vm_figures one[] = {{sizeof(banger_vm_figures), a.id.c_str(), &c.f, 1}};
    EXPECT_EQ(rec->figures_publish(rec, one, 1, &msg), BANGER_INVALID) << c.error;
    EXPECT_STREQ(text, c.error);
  }
  // Another capability may not take a name, nor change a kind.
  banger_vm_figures taken[] = {{sizeof(banger_vm_figures), a.id.c_str(), good, 1}};
  EXPECT_EQ(plain->figures_publish(plain, taken, 1, &msg), BANGER_INVALID);
  EXPECT_STREQ(text, "figures_publish: figure 'rx_bytes_total' is recorder's");

  std::string text_out = PrometheusText(store_->List(), *registry_, host_table_->figures());
  EXPECT_CONTAINS(text_out,
                  "# HELP banger_vm_rx_bytes_total Bytes in.\n"
                  "# TYPE banger_vm_rx_bytes_total counter\n"
                  "banger_vm_rx_bytes_total{vm=\"a\",id=\"" +
                      a.id + "\"} 1024\n");
  EXPECT_CONTAINS(text_out,
                  "# HELP banger_vm_temperature_celsius Published by capability recorder.\n"
                  "# TYPE banger_vm_temperature_celsius gauge\n");
  EXPECT_CONTAINS(text_out,
                  "# HELP banger_vm_health_ok Published without a type (stats_publish): a gauge.\n"
                  "# TYPE banger_vm_health_ok gauge\n");
  dispatcher_->ShutdownAll();
  dispatcher_.reset();
}

TEST_F(PluginHostTest, HandleGetCascadesFromCacheToRecordToRediscovery) {
  CopyPlugins(plugin_dir_, {"recorder", "plain-c"});
  Discover("[plugins]\nenable = recorder, plain-c\n");
  AttachStore();
  backend_->AttachRediscoverer(
      [&](const std::string& cap, const VmRecord& vm, const std::string& key) {
        return dispatcher_->Rediscover(cap, MakeVmView(vm), key);
      });
  ASSERT_TRUE(dispatcher_->InitAll().ok());
  VmRecord r;
  r.id = NewVmId();
  r.name = "web-1";
  ASSERT_TRUE(store_->Upsert(r).ok());

  const banger_host* rec = host_table_->TableFor(*registry_->Find("recorder"));
  char out[64] = {0}, text[256] = {0};
  banger_message msg{text, sizeof text};
  // Neither cache nor record: the recorder's rediscover finds it...
  ASSERT_EQ(rec->handle_get(rec, r.id.c_str(), nullptr, "lost", out, sizeof out, &msg), BANGER_OK)
      << text;
  EXPECT_STREQ(out, "found-web-1");
  // ...and it is now recorded, durably.
  EXPECT_EQ((*store_->Get(r.id))->handles.at("recorder").at("lost"), "found-web-1");
  // Nothing anywhere: "never allocated", naming every source.
  EXPECT_EQ(rec->handle_get(rec, r.id.c_str(), nullptr, "tap", out, sizeof out, &msg),
            BANGER_NOT_FOUND);
  EXPECT_STREQ(text,
               "never allocated: no recorder.tap for vm \"web-1\" in the handle cache, the VM's "
               "record, or by rediscovery");
  // Rediscovery answering "nothing on the host" is an answer, not a failed hook.
  HookCounters rediscover = registry_->Find("recorder")->stats.Snapshot().hooks.at("rediscover");
  EXPECT_EQ(rediscover.calls, 2u);
  EXPECT_EQ(rediscover.failures, 0u);
  EXPECT_EQ(registry_->Find("recorder")->stats.Snapshot().last_error, "");
  // A capability without a rediscover hook ends at the record.
  const banger_host* plain = host_table_->TableFor(*registry_->Find("plain-c"));
  EXPECT_EQ(plain->handle_get(plain, r.id.c_str(), nullptr, "lost", out, sizeof out, &msg),
            BANGER_NOT_FOUND);
  // One capability may read another's handles.
  ASSERT_EQ(plain->handle_get(plain, r.id.c_str(), "recorder", "lost", out, sizeof out, &msg),
            BANGER_OK);
  EXPECT_STREQ(out, "found-web-1");
  // Several keys in one commit.
  const char* keys[] = {"a", "b"};
  const char* values[] = {"1", "2"};
  uint64_t commits = store_->commits();
  ASSERT_EQ(plain->handle_set_many(plain, r.id.c_str(), keys, values, 2, &msg), BANGER_OK) << text;
  EXPECT_EQ(store_->commits() - commits, 1u);
  EXPECT_EQ((*store_->Get(r.id))->handles.at("plain-c").at("b"), "2");
  // Set is committed before it returns, and clear forgets.
  ASSERT_EQ(plain->handle_set(plain, r.id.c_str(), "tap_name", "bt0", &msg), BANGER_OK);
  EXPECT_EQ((*store_->Get(r.id))->handles.at("plain-c").at("tap_name"), "bt0");
  ASSERT_EQ(plain->handle_clear(plain, r.id.c_str(), nullptr, &msg), BANGER_OK);
  EXPECT_EQ((*store_->Get(r.id))->handles.count("plain-c"), 0u);
  dispatcher_->ShutdownAll();
  dispatcher_.reset();
}

struct SdkPlain {
  explicit SdkPlain(banger::Host) {}
};
struct SdkWithRediscover {
  explicit SdkWithRediscover(banger::Host) {}
  std::optional<std::string> Rediscover(const banger::Vm&, std::string_view) {
    return std::nullopt;
  }
};

// The SDK stamps the oldest minor a capability needs, not the header's: one
// that uses nothing of 1.1 loads in a 1.0 agent.
TEST(SdkDescriptorTest, TheMinorIsTheOldestTheCapabilityNeeds) {
  EXPECT_EQ(banger::MakeDescriptor<SdkPlain>({.name = "p", .version = "1"}).abi_minor, 0);
  EXPECT_EQ(banger::MakeDescriptor<SdkWithRediscover>({.name = "r", .version = "1"}).abi_minor, 1);
  EXPECT_EQ(
      banger::MakeDescriptor<SdkPlain>({.name = "p", .version = "1", .abi_minor = 1}).abi_minor, 1);
  EXPECT_EQ(banger::MakeDescriptor<SdkPlain>({.name = "p", .version = "1"}).struct_size,
            sizeof(banger_capability));
}

// The SDK's wrappers kept the host's message only by luck of evaluation
// order: `FromCode(host_->call(..., m.get()), m.str())` read the message
// before the call under GCC, so every failed service said nothing (found by
// portfwd's unit tests, whose validate_options errors came back empty).
TEST(SdkHostTest, AFailedServiceCallKeepsTheHostsMessage) {
  banger::testing::FakeHost fake("cap");
  banger::Host host(fake.table());
  banger::Status stop = host.RequestStop("no-such-vm", "test");
  EXPECT_EQ(stop.code(), BANGER_NOT_FOUND);
  EXPECT_EQ(stop.message(), "no such VM");
  banger_vm_figures bad{sizeof(banger_vm_figures), nullptr, nullptr, 0};
  banger::Status figures = host.PublishFigures(&bad, 1);
  EXPECT_EQ(figures.code(), BANGER_INVALID);
  EXPECT_EQ(figures.message(), "a banger_vm_figures of another layout, or no vm_id");
}

// sdk/examples/hello answered invalid JSON for a greeting with a quote in it.
TEST(SdkJsonTest, JsonStringRoundTripsThroughAParser) {
  for (std::string text : {std::string("say \"hi\""), std::string("back\\slash\nnew\tline"),
                           std::string("bell\x07 and \x1f"), std::string("caf\xc3\xa9")}) {
    auto parsed = nlohmann::json::parse(banger::JsonString(text), nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << banger::JsonString(text);
    EXPECT_EQ(parsed.get<std::string>(), text);
  }
}

}  // namespace
}  // namespace banger::core
