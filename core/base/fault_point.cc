#include "core/base/fault_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace banger::core::fault {
namespace {

std::atomic<bool> g_armed{false};
std::mutex g_mu;
std::map<std::string, std::function<void()>>& Hooks() {
  static std::map<std::string, std::function<void()>> hooks;
  return hooks;
}

// BANGER_CRASH_AT, read once.
const char* CrashAt() {
  static const char* name = [] {
    const char* v = std::getenv("BANGER_CRASH_AT");
    if (v != nullptr && *v != '\0') g_armed = true;
    return v;
  }();
  return name;
}
[[maybe_unused]] const bool g_read_at_start = (CrashAt(), true);

}  // namespace

bool Armed() {
  return g_armed.load(std::memory_order_relaxed);
}

void Reach(const char* name) {
  if (!g_armed.load(std::memory_order_relaxed)) return;
  if (const char* crash = CrashAt(); crash != nullptr && std::strcmp(crash, name) == 0) {
    // Say where, for the test's log, then die as a power cut would take us.
    std::string line = std::string("fault point ") + name + ": SIGKILL\n";
    ssize_t unused = ::write(STDERR_FILENO, line.data(), line.size());
    (void)unused;
    ::kill(::getpid(), SIGKILL);
  }
  std::function<void()> hook;
  {
    std::lock_guard lock(g_mu);
    auto it = Hooks().find(name);
    if (it == Hooks().end()) return;
    hook = it->second;
  }
  hook();
}

void Arm(const std::string& name, std::function<void()> hook) {
  std::lock_guard lock(g_mu);
  Hooks()[name] = std::move(hook);
  g_armed = true;
}

void Disarm(const std::string& name) {
  std::lock_guard lock(g_mu);
  Hooks().erase(name);
  g_armed = !Hooks().empty() || CrashAt() != nullptr;
}

}  // namespace banger::core::fault
