// The tree's one way of saying that something failed: errors are values
// (leveldb's Status), never exceptions across an interface and never a bare
// string or an optional that means "an error".
//
//   Error      what went wrong: a code for the caller to act on and a
//              message for a person (naming the file, the flag, the member).
//   Result<T>  a T, or an Error (std::expected's shape).
//   Status     nothing, or an Error: the result of a call that returns no
//              value. Status() is success.
//
// A value that may be absent without anything having gone wrong (a key not
// in etcd, a base64 text that is not one) is a std::optional instead.
//
// Header-only, no Boost: the engine-free libraries (etcd/types.h, the
// server's core) and the Asio programs alike include it.
//
// Thread safety: plain values.

#ifndef LOCKTOPUS_UTIL_RESULT_H_
#define LOCKTOPUS_UTIL_RESULT_H_

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace locktopus {

struct Error {
  // What the caller may do next; most callers only report the message.
  enum class Code {
    // Malformed input: a flag, a file's contents, a request. Not sent.
    kInvalidArgument,
    // The file system or the system refused: open, read, write, sync.
    kIo,
    // No member or peer answered usefully in time; another try, or
    // another member, may do better (etcd: refused, timed out, 5xx, 429,
    // or an answer that is not etcd's).
    kUnavailable,
    // What the call names does not exist (etcd: the lease expired or was
    // revoked).
    kNotFound,
    // Refused in a way that asking again would not change (etcd: a 4xx
    // with an etcd error; a state dir that another server holds).
    kRejected,
    // Abandoned before it completed: its owner went away (a destroyed etcd
    // client).
    kCancelled,
  };

  Code code = Code::kInvalidArgument;
  std::string message;

  bool operator==(const Error&) const = default;
};

inline std::string_view ToString(Error::Code code) {
  switch (code) {
    case Error::Code::kInvalidArgument:
      return "invalid argument";
    case Error::Code::kIo:
      return "i/o error";
    case Error::Code::kUnavailable:
      return "unavailable";
    case Error::Code::kNotFound:
      return "not found";
    case Error::Code::kRejected:
      return "rejected";
    case Error::Code::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

template <class T>
class Result;

namespace result_internal {
// What makes a Result<T>'s value: what makes a T, except an Error or a
// Result.
template <class U, class T>
concept MakesValue = std::is_constructible_v<T, U&&> &&
                     !std::is_same_v<std::remove_cvref_t<U>, Error> &&
                     !std::is_same_v<std::remove_cvref_t<U>, Result<T>>;
}  // namespace result_internal

// A T or an Error. Made implicitly from either, so a function returns
// `value` or `Error{...}` alike.
template <class T>
class [[nodiscard]] Result {
 public:
  template <result_internal::MakesValue<T> U = T>
  Result(U&& value)  // NOLINT: implicit
      : state_(std::in_place_index<0>, std::forward<U>(value)) {}
  Result(Error error)  // NOLINT: implicit
      : state_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return state_.index() == 0; }
  // Requires ok().
  const T& value() const& {
    assert(ok());
    return *std::get_if<0>(&state_);
  }
  T& value() & {
    assert(ok());
    return *std::get_if<0>(&state_);
  }
  T&& value() && {
    assert(ok());
    return std::move(*std::get_if<0>(&state_));
  }
  // Requires !ok().
  const Error& error() const {
    assert(!ok());
    return *std::get_if<1>(&state_);
  }

 private:
  std::variant<T, Error> state_;
};

// Success, or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;                                // success
  Status(Error error) : error_(std::move(error)) {}  // NOLINT: implicit

  bool ok() const { return !error_.has_value(); }
  // Requires !ok().
  const Error& error() const {
    assert(!ok());
    return *error_;
  }

 private:
  std::optional<Error> error_;
};

}  // namespace locktopus

#endif  // LOCKTOPUS_UTIL_RESULT_H_
