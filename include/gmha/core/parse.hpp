#pragma once
// The one parser for the numbers, lists and ranges users type: flags, --design values,
// --hardware-def fields, layer lists, sweep grids. Every error is an InputError that names
// `what` (the flag or field, given by the caller) and quotes the text.
//
// Rules (README, "Numbers and units"):
// - integer: decimal digits with an optional leading '-', the whole text, within int64.
// - token count (context, batch, window): a positive integer with an optional k/K (x1024) or
//   m/M (x1024^2) suffix: "32k" = 32768 tokens, as engines and papers write contexts.
// - amount (bytes, parameters, FLOPs): a finite non-negative decimal number ("70272", "1.5e12")
//   with an optional unit: K M G T P are powers of 1000, Ki Mi Gi Ti Pi powers of 1024, and a
//   trailing B (bytes) is allowed after either ("80GB" = 8e10, "64KiB" = 65536). For parameter
//   counts, B alone means billion ("37B" = 3.7e10) when the caller says so.
// - list: comma-separated items, none empty.
// - integer ranges: a list whose items are N, A-B or A-B:STEP, sorted and made unique.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gmha {

/// Splits at commas; an empty item (",", "a,,b", "") is an InputError naming `what`.
std::vector<std::string_view> split_list(std::string_view text, std::string_view what);

/// A whole-text decimal integer within [lo, hi].
int64_t parse_integer(std::string_view text, std::string_view what, int64_t lo = INT64_MIN,
                      int64_t hi = INT64_MAX);

/// A positive token count with an optional k/K/m/M (binary) suffix.
int64_t parse_token_count(std::string_view text, std::string_view what);
/// A comma list of token counts, in the order given.
std::vector<int64_t> parse_token_counts(std::string_view text, std::string_view what);

/// How an amount's unit letters scale it.
enum class AmountKind {
  kBytes,  // K M G T P = 1000^n, Ki..Pi = 1024^n, an optional trailing B
  kCount,  // as kBytes, and B alone = billion (parameter counts: "37B")
};
/// A finite non-negative amount with an optional unit (see the rules above).
double parse_amount(std::string_view text, std::string_view what, AmountKind kind);

/// Integer ranges "1,2,4-64:4": sorted, unique, every value in [lo, hi]; at most `max_values`.
std::vector<int64_t> parse_int_ranges(std::string_view text, std::string_view what, int64_t lo,
                                      int64_t hi, int64_t max_values = 10'000'000);

/// The inverse of parse_int_ranges: sorted unique values written as runs, an arithmetic run of
/// three or more with its step ("0-34:2"), a consecutive run as "a-b". {0,2,...,34,35} → "0-34:2,35".
std::string format_int_ranges(const std::vector<int64_t>& sorted_values);

}  // namespace gmha
