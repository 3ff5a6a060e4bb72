#include "gmha/core/json_text.hpp"

#include <fmt/format.h>

#include "gmha/core/error.hpp"

namespace gmha {

nlohmann::json parse_json_text(std::string_view text, const std::string& where,
                               std::string_view subject) {
  const std::string what = subject.empty()
                               ? fmt::format("{}: not valid JSON", where)
                               : fmt::format("{}: {} is not valid JSON", where, subject);
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann places "unexpected end of input" one past the last byte.
    if (e.byte > text.size())
      throw InputError(fmt::format("{} (truncated at byte {})", what, text.size()));
    throw InputError(fmt::format("{} (at byte {} of {})", what, e.byte, text.size()));
  } catch (const nlohmann::json::exception& e) {
    // e.what() is "[json.exception.<kind>.<id>] <reason>": keep the reason.
    std::string_view reason = e.what();
    if (const size_t close = reason.find("] "); close != std::string_view::npos)
      reason.remove_prefix(close + 2);
    throw InputError(fmt::format("{} ({})", what, reason));
  }
}

}  // namespace gmha
