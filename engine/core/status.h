// Status and Result<T>: how an unsupported request or bad input is reported.
// A Status carries a code and a message a user can act on ("what is wrong, and the fix").
// CUDA/cuBLAS/CUPTI call failures are bugs and are NOT Status: see cuda_check.h.
#pragma once

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace wan {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // a flag, shape or value the user gave is wrong
  kNotFound,            // a file, tensor, model or backend name does not exist
  kDataLoss,            // a file exists but is corrupt or truncated
  kUnimplemented,       // a valid request this build cannot serve (head_dim, grid...)
  kResourceExhausted,   // out of host or device memory
  kUnavailable,         // no GPU, no driver, CUPTI held by another profiler
  kFailedPrecondition,  // state forbids it (e.g. would overwrite without --force)
  kInternal,            // an invariant broke: a bug in this project
};

std::string_view status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: --steps must be >= 1 (got 0)"
  std::string to_string() const;

  // Prepends context: status.with_context("loading model.safetensors") ->
  // "DATA_LOSS: loading model.safetensors: header length 9999 is past the end of the file".
  Status with_context(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status data_loss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status failed_precondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// Result<T>: a T or a non-ok Status. Accessing value() of an error is a bug (asserts).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Result built from an ok Status has no value");
    if (status_.ok()) status_ = internal_error("Result constructed from ok Status without value");
  }
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  // Reading the value of an error is a bug: it stops loudly in every build mode.
  T& value() & { check(); return *value_; }
  const T& value() const& { check(); return *value_; }
  T&& value() && { check(); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void check() const {
    if (!value_.has_value()) {
      std::fprintf(stderr, "Result::value() called on an error: %s\n", status_.to_string().c_str());
      std::abort();
    }
  }
  std::optional<T> value_;
  Status status_;
};

}  // namespace wan

// Early return on error. WAN_RETURN_IF_ERROR(expr) for Status; WAN_ASSIGN_OR_RETURN(lhs, expr)
// for Result<T>.
#define WAN_RETURN_IF_ERROR(expr)          \
  do {                                     \
    ::wan::Status wan_status_ = (expr);    \
    if (!wan_status_.ok()) return wan_status_; \
  } while (0)

#define WAN_CONCAT_INNER_(a, b) a##b
#define WAN_CONCAT_(a, b) WAN_CONCAT_INNER_(a, b)
#define WAN_ASSIGN_OR_RETURN(lhs, expr) WAN_ASSIGN_OR_RETURN_IMPL_(WAN_CONCAT_(wan_result_, __LINE__), lhs, expr)
#define WAN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
