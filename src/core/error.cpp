#include "gmha/core/error.hpp"

#include <fmt/format.h>

namespace gmha::errors {

InputError bad_option(const std::string& option, const std::string& text) {
  return InputError(fmt::format("{}: {}", option, text), option);
}

InputError option_not_positive(const std::string& option, long long value) {
  return bad_option(option, fmt::format("must be positive (got {})", value));
}

InputError not_positive(const std::string& where, const std::string& field, long long value) {
  return InputError(fmt::format("{}: {} must be positive (got {})", where, field, value));
}

InputError overflow(const std::string& where, const std::string& what) {
  return InputError(fmt::format("{}: {} overflows 64 bits", where, what));
}

InputError missing_field(const std::string& where, const std::string& field) {
  return InputError(fmt::format("{}: missing field '{}'", where, field));
}

InputError unknown_name(const std::string& where, const std::string& kind, const std::string& name,
                        const std::string& known) {
  return InputError(fmt::format("{}: unknown {} '{}' (known: {})", where, kind, name, known));
}

}  // namespace gmha::errors
