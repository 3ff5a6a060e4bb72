#pragma once
// One error tree for the whole library. Every error carries the process exit code the CLI uses
// (README, "Exit codes"): 1 a check that ran and failed (validation, an audit finding), 2 bad
// input (malformed files, impossible designs, overflowing sizes), 3 an internal invariant that
// broke (a gmha bug), 4 a device that failed (CUDA runtime errors, no device when one was asked
// for). The library throws; only src/cli/ prints and exits. Messages name what the library was
// given (the file, the field, the value); the CLI prefixes the flag that carried it.
#include <stdexcept>
#include <string>
#include <utility>

namespace gmha {

/// Base of all gmha errors; `exit_code()` is what the CLI returns.
class Error : public std::runtime_error {
 public:
  Error(const std::string& message, int exit_code)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

/// Bad input from the user: a file, a field, a value. Exit code 2. When the bad value is one of
/// the caller's options, `option()` names it ("context", "gpus", "rank-tol") and the message
/// starts with it; the CLI then shows the message under that option's flag (--context: ...).
class InputError : public Error {
 public:
  explicit InputError(const std::string& message, std::string option = {})
      : Error(message, 2), option_(std::move(option)) {}
  const std::string& option() const { return option_; }

 private:
  std::string option_;
};

/// A numerical check that ran and failed (validate, audit thresholds). Exit code 1.
class CheckFailed : public Error {
 public:
  explicit CheckFailed(const std::string& message) : Error(message, 1) {}
};

/// An internal invariant broke: a bug in gmha, not in the input. Exit code 3.
class InternalError : public Error {
 public:
  explicit InternalError(const std::string& message) : Error(message, 3) {}
};

/// A compute device failed or is missing (CUDA runtime errors). Exit code 4.
class DeviceError : public Error {
 public:
  explicit DeviceError(const std::string& message) : Error(message, 4) {}
};

/// Named factories so the wording of common failures lives in one place.
namespace errors {
/// "<option>: <text>" for a bad value of the caller's option `option` (see InputError::option).
InputError bad_option(const std::string& option, const std::string& text);
/// "<option>: must be positive (got <value>)"
InputError option_not_positive(const std::string& option, long long value);
/// "<where>: <field> must be positive (got <value>)"
InputError not_positive(const std::string& where, const std::string& field, long long value);
/// "<where>: <what> overflows 64 bits"
InputError overflow(const std::string& where, const std::string& what);
/// "<where>: missing field '<field>'"
InputError missing_field(const std::string& where, const std::string& field);
/// "<where>: unknown <kind> '<name>' (known: <list>)"
InputError unknown_name(const std::string& where, const std::string& kind, const std::string& name,
                        const std::string& known);
}  // namespace errors

}  // namespace gmha
