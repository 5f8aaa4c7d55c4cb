// StateDirLock: one agent per state dir. An exclusive flock on
// <state_dir>/bangerd.lock, held for the life of the agent, with the holder's
// PID written in the file so a refused second agent can say who holds it.
// The kernel drops the lock when the holder dies, however it dies.
#pragma once

#include <memory>
#include <string>

#include "core/base/status.h"
#include "core/base/unique_fd.h"

namespace banger::core {

class StateDirLock {
 public:
  // Error when another process holds the lock ("... held by pid N") or the
  // file cannot be created.
  static Result<std::unique_ptr<StateDirLock>> Acquire(const std::string& state_dir);
  const std::string& path() const { return path_; }

 private:
  StateDirLock(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  UniqueFd fd_;
};

}  // namespace banger::core
