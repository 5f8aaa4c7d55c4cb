#include "core/base/spawn.h"

#include <signal.h>
#include <spawn.h>

#include <cstring>

extern char** environ;

namespace banger::core {

Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty() || argv[0].empty()) return Status::Invalid("empty argv");
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (options.input_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, options.input_fd, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, options.input_path.c_str(), O_RDONLY, 0);
  }
  if (options.output_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, options.output_fd, 1);
  } else {
    posix_spawn_file_actions_addopen(&actions, 1, options.output_path.c_str(), options.output_flags,
                                     options.output_mode);
  }
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // Nothing else crosses into the child, whether or not it was opened with
  // O_CLOEXEC (a VMM must never hold a control connection or the store).
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.new_session) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(&attr, flags);

  pid_t pid = -1;
  int rc = options.search_path
               ? ::posix_spawnp(&pid, cargv[0], &actions, &attr, cargv.data(), environ)
               : ::posix_spawn(&pid, cargv[0], &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::Error(std::strerror(rc));
  return pid;
}

}  // namespace banger::core
