#pragma once

// A value or the reason there is none. The symbolizer never throws: a binary that is not Go, a
// missing symbol or an unknown version is an ordinary outcome with a reason worth logging.

#include <optional>
#include <string>
#include <utility>

namespace ztrace::symbolizer {

template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit on purpose
  static Result failure(std::string reason) {
    Result r;
    r.reason_ = std::move(reason);
    return r;
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T* operator->() const { return &*value_; }
  T* operator->() { return &*value_; }
  const T& operator*() const { return *value_; }
  // Empty when ok().
  const std::string& reason() const { return reason_; }

 private:
  Result() = default;
  std::optional<T> value_;
  std::string reason_;
};

}  // namespace ztrace::symbolizer
