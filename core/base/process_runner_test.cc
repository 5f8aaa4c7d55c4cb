#include "core/base/process_runner.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <sstream>
#include <string>
#include <vector>

namespace banger::core {
namespace {

using namespace std::chrono_literals;

TEST(ProcessRunnerTest, CapturesOutputAndExitCode) {
  std::string out;
  auto r =
      RunProcess({"printf", "%s-%s", "a b", "c"}, 5s, [&](std::string_view s) { out.append(s); });
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(out, "a b-c");  // arguments reach the program verbatim: no shell
}

TEST(ProcessRunnerTest, NoShellInterpretation) {
  std::string out;
  auto r = RunProcess({"echo", "$HOME;", "`id`"}, 5s, [&](std::string_view s) { out.append(s); });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(out, "$HOME; `id`\n");
}

TEST(ProcessRunnerTest, NonZeroExitIsReported) {
  auto r = RunProcess({"false"}, 5s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 1);
}

TEST(ProcessRunnerTest, StderrIsCaptured) {
  std::string out;
  auto r = RunProcess({"ls", "/nonexistent-banger-path"}, 5s,
                      [&](std::string_view s) { out.append(s); });
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->exit_code, 0);
  EXPECT_NE(out.find("nonexistent-banger-path"), std::string::npos);
}

TEST(ProcessRunnerTest, TimeoutKillsTheProcess) {
  auto r = RunProcess({"sleep", "30"}, 200ms);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->term_signal, SIGKILL);
}

TEST(ProcessRunnerTest, MissingProgramIsAnError) {
  auto r = RunProcess({"no-such-program-banger"}, 1s);
  // posix_spawnp reports a missing program either as an error or as exit 127.
  if (r.ok()) {
    EXPECT_EQ(r->exit_code, 127);
  } else {
    EXPECT_NE(r.status().message().find("no-such-program-banger"), std::string::npos);
  }
}

TEST(ProcessRunnerTest, ChildStartsWithCleanSignalMask) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  std::string out;
  auto r = RunProcess({"grep", "SigBlk", "/proc/self/status"}, 5s,
                      [&](std::string_view s) { out.append(s); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(out.find("0000000000000000"), std::string::npos) << out;
}

TEST(ProcessRunnerTest, EmptyArgvIsAnError) {
  EXPECT_FALSE(RunProcess({}, 1s).ok());
}

}  // namespace
}  // namespace banger::core

namespace banger::core {
namespace {

// A descriptor opened without O_CLOEXEC (Asio accepts sockets so) never
// reaches a child: a VMM must not hold a control connection or the store.
TEST(ProcessRunnerTest, OnlyTheStandardDescriptorsReachTheChild) {
  int leaky[2];
  ASSERT_EQ(::pipe(leaky), 0);  // no O_CLOEXEC
  std::string out;
  auto r = RunProcess({"/bin/sh", "-c", "ls /proc/$$/fd"}, std::chrono::seconds(10),
                      [&](std::string_view s) { out.append(s); });
  ::close(leaky[0]);
  ::close(leaky[1]);
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::istringstream fds(out);
  std::vector<std::string> seen;
  for (std::string fd; fds >> fd;) seen.push_back(fd);
  EXPECT_EQ(seen, (std::vector<std::string>{"0", "1", "2"})) << out;
}

}  // namespace
}  // namespace banger::core
