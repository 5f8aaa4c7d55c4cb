// Status and Result<T>: how the core reports failure on every path that can
// fail at run time (no exceptions). A Status is ok or carries a code (what
// kind of failure, for callers that branch on it, e.g. HTTP 404 vs 409) and
// a one-line message that says what failed, for what, and why. Value types.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace banger::core {

enum class StatusCode {
  kOk = 0,
  kError,        // anything not below
  kNotFound,     // the thing asked for does not exist
  kConflict,     // it exists / is taken / is in a state that forbids this
  kInvalid,      // the request itself is malformed
  kUnavailable,  // cannot be done on this host or right now
  kBusy,         // another operation holds it; try again
  kCorrupt,      // it exists, but what is stored of it cannot be read
  kDenied,       // the caller may not do this (or use that file)
};

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) {
    return Status(StatusCode::kError, std::move(message));
  }
  static Status NotFound(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
  static Status Conflict(std::string m) { return Status(StatusCode::kConflict, std::move(m)); }
  static Status Invalid(std::string m) { return Status(StatusCode::kInvalid, std::move(m)); }
  static Status Unavailable(std::string m) {
    return Status(StatusCode::kUnavailable, std::move(m));
  }
  static Status Busy(std::string m) { return Status(StatusCode::kBusy, std::move(m)); }
  static Status Corrupt(std::string m) { return Status(StatusCode::kCorrupt, std::move(m)); }
  static Status Denied(std::string m) { return Status(StatusCode::kDenied, std::move(m)); }

  bool ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return ok(); }
  StatusCode code() const { return code_; }
  // The message; empty for ok.
  const std::string& message() const { return message_; }
  // The same failure with "prefix: " in front of the message.
  Status Prefixed(const std::string& prefix) const {
    return ok() ? *this : Status(code_, prefix + ": " + message_);
  }

 private:
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a T or the Status explaining why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace banger::core
