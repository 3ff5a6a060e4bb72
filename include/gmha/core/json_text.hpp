#pragma once
// JSON text from files (config.json, safetensors headers and indexes, audit shards) parsed in one
// place, so that every way nlohmann's parser can fail ends as the same kind of InputError: a
// syntax error, but also a number outside double's range ("1e999") or invalid UTF-8, which it
// reports as other exception types that would otherwise escape the input handling.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace gmha {

/// Parses `text`. Throws InputError "<where>: [<subject> is ]not valid JSON (at byte B of N)"
/// for a syntax error, "(truncated at byte N)" when the text ends inside the JSON, and
/// "(<reason>)" for any other failure (e.g. "number overflow parsing '1e999'").
nlohmann::json parse_json_text(std::string_view text, const std::string& where,
                               std::string_view subject = {});

}  // namespace gmha
