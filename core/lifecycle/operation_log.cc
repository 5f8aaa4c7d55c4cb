#include "core/lifecycle/operation_log.h"

#include <nlohmann/json.hpp>

#include "core/base/clock.h"
#include "core/base/fault_point.h"

namespace banger::core {

namespace {

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

std::string OperationLog::NewId() {
  std::lock_guard lock(mu_);
  return "op-" + std::to_string(UnixMillis()) + "-" + std::to_string(next_++);
}

void OperationLog::Begin(const OperationRecord& op) {
  std::lock_guard lock(mu_);
  ops_.push_back(op);
  while (ops_.size() > capacity_) ops_.pop_front();
}

void OperationLog::AddStage(const std::string& id, const OperationStage& stage) {
  std::string vm, kind;
  {
    std::lock_guard lock(mu_);
    for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
      if (it->id == id) {
        it->stages.push_back(stage);
        vm = it->vm;
        kind = it->kind;
        break;
      }
    }
  }
  // Fields, not text: a shipper filters on vm or stage without parsing.
  std::vector<LogField> fields{{"op", kind},
                               {"vm", vm},
                               {"stage", stage.name},
                               LogField::Number("ms", stage.ms),
                               {"op_id", id}};
  if (!stage.error.empty()) fields.push_back({"error", stage.error});
  if (!stage.detail.empty()) fields.push_back({"detail", stage.detail});
  logger_.Log(stage.error.empty() ? LogLevel::kInfo : LogLevel::kWarn, "core",
              stage.error.empty() ? "stage done" : "stage failed", fields);
}

void OperationLog::End(const std::string& id, double ms, const std::string& error) {
  std::lock_guard lock(mu_);
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
    if (it->id == id) {
      it->done = true;
      it->ms = ms;
      it->error = error;
      return;
    }
  }
}

std::vector<OperationRecord> OperationLog::Recent() const {
  std::lock_guard lock(mu_);
  return std::vector<OperationRecord>(ops_.rbegin(), ops_.rend());
}

Operation::Operation(OperationLog& log, std::string kind, std::string vm, std::string vm_id,
                     StageObserver observer)
    : log_(log),
      id_(log.NewId()),
      kind_(std::move(kind)),
      vm_(std::move(vm)),
      vm_id_(std::move(vm_id)),
      observer_(std::move(observer)),
      began_(std::chrono::steady_clock::now()) {
  log_.Begin(OperationRecord{id_, kind_, vm_, vm_id_, UnixMillis(), 0, false, "", {}});
}

Operation::~Operation() {
  if (!finished_) Finish(Status::Error("operation ended without an outcome"));
}

void Operation::SetVm(std::string name, std::string id) {
  vm_ = std::move(name);
  vm_id_ = std::move(id);
  std::lock_guard lock(log_.mu_);
  for (auto it = log_.ops_.rbegin(); it != log_.ops_.rend(); ++it) {
    if (it->id == id_) {
      it->vm = vm_;
      it->vm_id = vm_id_;
      break;
    }
  }
}

Status Operation::Stage(const std::string& name,
                        const std::function<Status(std::string& detail)>& body) {
  auto t = std::chrono::steady_clock::now();
  std::string detail;
  Status s = body(detail);
  OperationStage stage{name, MsSince(t), s.ok() ? "" : s.message(), detail};
  log_.AddStage(id_, stage);
  if (observer_) observer_(stage);
  // Right after each stage that did its work: "vm.start.vmm.spawn".
  if (s) BANGER_FAULT_POINT_NAMED(kind_ + "." + name);
  return s;
}

Status Operation::Stage(const std::string& name, const std::function<Status()>& body) {
  return Stage(name, [&](std::string&) { return body(); });
}

void Operation::Finish(const Status& outcome) {
  if (finished_) return;
  finished_ = true;
  log_.End(id_, MsSince(began_), outcome.ok() ? "" : outcome.message());
}

}  // namespace banger::core
