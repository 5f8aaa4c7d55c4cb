// Operations: every lifecycle call (vm.create, vm.start, vm.stop, ...) gets an
// id and runs in named stages. Each stage is timed and logged as one JSON
// line ({"op","op_id","vm","stage","ms","error"}) and can be watched as it
// completes (bangerctl vm start streams them). The log keeps the most recent
// operations for GET /v1/operations. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "core/base/logger.h"
#include "core/base/status.h"

namespace banger::core {

struct OperationStage {
  std::string name;
  double ms = 0;
  std::string error;   // "" when it succeeded
  std::string detail;  // e.g. which stop step ended the VMM
};

struct OperationRecord {
  std::string id;
  std::string kind;  // "vm.start"
  std::string vm;    // name
  std::string vm_id;
  int64_t started_at_ms = 0;
  double ms = 0;
  bool done = false;
  std::string error;
  std::vector<OperationStage> stages;
};

using StageObserver = std::function<void(const OperationStage&)>;

class OperationLog {
 public:
  explicit OperationLog(const Logger& logger, size_t capacity = 256)
      : logger_(logger), capacity_(capacity) {}

  // Most recent first.
  std::vector<OperationRecord> Recent() const;

 private:
  friend class Operation;
  std::string NewId();
  void Begin(const OperationRecord& op);
  void AddStage(const std::string& id, const OperationStage& stage);
  void End(const std::string& id, double ms, const std::string& error);

  const Logger& logger_;
  size_t capacity_;
  mutable std::mutex mu_;
  uint64_t next_ = 1;
  std::deque<OperationRecord> ops_;  // oldest first
};

// One operation in flight. Stages run in order; Finish (or the destructor)
// closes it.
class Operation {
 public:
  Operation(OperationLog& log, std::string kind, std::string vm, std::string vm_id,
            StageObserver observer = {});
  ~Operation();
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;

  const std::string& id() const { return id_; }
  // Runs `body` as stage `name`: timed, logged, reported to the observer.
  // Returns what `body` returned. `detail` may be filled by body.
  Status Stage(const std::string& name, const std::function<Status(std::string& detail)>& body);
  Status Stage(const std::string& name, const std::function<Status()>& body);
  // Closes the operation with its outcome.
  void Finish(const Status& outcome);
  void SetVm(std::string name, std::string id);

 private:
  OperationLog& log_;
  std::string id_, kind_, vm_, vm_id_;
  StageObserver observer_;
  std::chrono::steady_clock::time_point began_;
  bool finished_ = false;
};

}  // namespace banger::core
