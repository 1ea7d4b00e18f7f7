#pragma once

#include <cstdio>
#include <cstdlib>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace autoseal {

// What kind of failure an Error is; protocol layers map these to their own forms
// (ACME problem types, HTTP status, SMTP replies, CLI exit codes).
enum class ErrorCode {
  kInvalidArgument,  // caller or user gave something unusable (bad flag, bad name)
  kParse,            // bytes from outside did not parse (PEM, DER, JSON, MIME)
  kCrypto,           // a cryptographic operation failed or a signature did not verify
  kPolicy,           // well-formed but refused by policy (key too small, profile rule)
  kNotFound,
  kAlreadyExists,
  kIo,               // file system
  kDatabase,
  kNetwork,
  kTimeout,
  kUnsupported,
  kInternal,
};

std::string_view ErrorCodeName(ErrorCode code);

// A failure as a value: a domain code and a message fit for a user. Cheap to move.
class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>".
  Error WithContext(std::string_view context) const&;
  Error WithContext(std::string_view context) &&;

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = Result<void>;

// Shorthand for `return Fail(ErrorCode::kParse, "...")` from any Result-returning function.
inline std::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}
inline std::unexpected<Error> Fail(Error error) { return std::unexpected<Error>(std::move(error)); }

inline Status Ok() { return {}; }

[[noreturn]] void CheckFailed(const char* file, int line, const char* expr, const char* msg);

}  // namespace autoseal

// TRY(expr): evaluates a Result; on error returns it from the enclosing function, else yields
// the value (or void). g++ 12 has no monadic std::expected operations, so this is the helper.
#define TRY(expr)                                                          \
  __extension__({                                                          \
    auto&& try_result_ = (expr);                                           \
    if (!try_result_) return ::std::unexpected(std::move(try_result_).error()); \
    std::move(try_result_).value();                                        \
  })

// TRY_CONTEXT(expr, "what"): as TRY, prefixing the error message with context.
#define TRY_CONTEXT(expr, context)                                                       \
  __extension__({                                                                        \
    auto&& try_result_ = (expr);                                                         \
    if (!try_result_)                                                                    \
      return ::std::unexpected(std::move(try_result_).error().WithContext(context));     \
    std::move(try_result_).value();                                                      \
  })

// CHECK(cond): a bug if false; always on, aborts with file and line.
#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) ::autoseal::CheckFailed(__FILE__, __LINE__, #cond, nullptr);   \
  } while (0)
#define CHECK_MSG(cond, msg)                                                    \
  do {                                                                          \
    if (!(cond)) ::autoseal::CheckFailed(__FILE__, __LINE__, #cond, msg);       \
  } while (0)
