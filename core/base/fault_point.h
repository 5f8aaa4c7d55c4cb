// Fault points: named places in the agent where a test steps in. A test in
// the same process arms a point to run a function there (to interleave two
// threads at an exact instant); a test that runs the agent as a process sets
// BANGER_CRASH_AT=<name> in its environment, and the agent kills itself with
// SIGKILL the first time it reaches that point (the crash matrix).
//
// Compiled in only when BANGER_FAULT_POINTS is defined (the CMake option of
// the same name: on for development and test builds, off for packages);
// otherwise BANGER_FAULT_POINT is nothing. When compiled in but not armed, a
// point costs one relaxed atomic load. Thread-safe.
#pragma once

#include <functional>
#include <string>

namespace banger::core::fault {

// What BANGER_FAULT_POINT calls.
void Reach(const char* name);
// True when any point is armed (a crash point or a hook): points whose name
// is built at run time build it only then.
bool Armed();

// Runs `hook` on the reaching thread each time `name` is reached, until
// Disarm. The hook may call back into the code under test.
void Arm(const std::string& name, std::function<void()> hook);
void Disarm(const std::string& name);

}  // namespace banger::core::fault

#ifdef BANGER_FAULT_POINTS
#define BANGER_FAULT_POINT(name) ::banger::core::fault::Reach(name)
// A point named by a std::string expression, evaluated only when armed.
#define BANGER_FAULT_POINT_NAMED(expr)                                                \
  do {                                                                                \
    if (::banger::core::fault::Armed()) ::banger::core::fault::Reach((expr).c_str()); \
  } while (0)
#else
#define BANGER_FAULT_POINT(name) ((void)0)
#define BANGER_FAULT_POINT_NAMED(expr) ((void)0)
#endif
