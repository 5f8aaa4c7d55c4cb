// A test fixture around a real bangerd: a temp dir, a config written by the
// test, the agent process, and a JSON client for its API.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/base/unix_http_client.h"
#include "core/vmm/process_identity.h"
#include "core/vmm/vmm_process.h"
#include "tests/test_support.h"

namespace banger::core::testing {

class AgentFixture : public ::testing::Test {
 protected:
  AgentFixture() : socket_(dir_ / "b.sock") {}
  ~AgentFixture() override {
    agent_.reset();
    // VMMs outlive their agent by design: end the ones this test started.
    for (const auto& [socket, procs] : ScanApiSocketProcesses()) {
      if (socket.rfind(dir_.path(), 0) != 0) continue;
      for (const auto& p : procs) KillVmm(p);
    }
  }

  // Copies capabilities from the build (test ones from tests/plugins, real
  // ones from plugins) into the fixture's plugin dir.
  void InstallCapabilities(const std::vector<std::string>& test_ones,
                           const std::vector<std::string>& real_ones) {
    CopyPlugins(dir_ / "plugins", test_ones);
    for (const auto& p : real_ones) {
      std::filesystem::copy_file(std::string(BANGER_PLUGIN_DIR) + "/" + p + ".so",
                                 dir_ / ("plugins/" + p + ".so"));
    }
  }

  // [core] for this fixture plus `rest` (sections, extra core keys first).
  void WriteConfig(const std::string& core_extra, const std::string& rest) {
    WriteFile(dir_ / "bangerd.conf",
              "[core]\nstate_dir = " + (dir_ / "state") + "\nsocket = " + socket_ +
                  "\nplugin_dirs = " + (dir_ / "plugins") + "\n" + core_extra + "\n" + rest);
  }

  void StartAgent(const std::string& log = "agent.log") {
    agent_ = std::make_unique<AgentProcess>(
        std::vector<std::string>{"--config", dir_ / "bangerd.conf"}, dir_ / log);
    ASSERT_TRUE(agent_->WaitReady(socket_)) << agent_->log();
  }
  // The agent inside network namespace `ns` (its TAPs and rules there).
  void StartAgentIn(const NetNamespace& ns, const std::string& log = "agent.log") {
    agent_ = std::make_unique<AgentProcess>(
        ns.Wrap({BANGERD_PATH, "--config", dir_ / "bangerd.conf"}), dir_ / log, /*raw=*/true);
    ASSERT_TRUE(agent_->WaitReady(socket_)) << agent_->log();
  }

  nlohmann::json Api(const std::string& method, const std::string& path,
                     const nlohmann::json& body = nullptr) {
    auto r = UnixHttpCall(socket_, method, path, body.is_null() ? "" : body.dump(),
                          std::chrono::seconds(60));
    if (!r.ok()) return nlohmann::json{{"error", "transport: " + r.error}};
    return nlohmann::json::parse(r.reply.body, nullptr, false);
  }

  // Creates a VM from small placeholder images (fc-sim only opens them).
  nlohmann::json CreateVm(const std::string& name, uint64_t work_disk_bytes = 0) {
    if (!std::filesystem::exists(dir_ / "vmlinux")) {
      WriteFile(dir_ / "vmlinux", "kernel");
      WriteFile(dir_ / "rootfs", std::string(4096, 'r'));
    }
    return Api("POST", "/v1/vms",
               {{"name", name},
                {"kernel", dir_ / "vmlinux"},
                {"rootfs", dir_ / "rootfs"},
                {"work_disk_bytes", work_disk_bytes}});
  }

  // A VMM wrapper: fc-sim with extra options.
  std::string FcSimWith(const std::string& options) {
    std::string path = dir_ / "vmm";
    WriteFile(path, std::string("#!/bin/sh\nexec ") + FC_SIM_PATH + " " + options + " \"$@\"\n");
    std::filesystem::permissions(path, std::filesystem::perms(0755));
    return path;
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<AgentProcess> agent_;
};

}  // namespace banger::core::testing
