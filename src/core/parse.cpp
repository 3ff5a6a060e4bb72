#include "gmha/core/parse.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"

namespace gmha {

std::vector<std::string_view> split_list(std::string_view text, std::string_view what) {
  std::vector<std::string_view> items;
  size_t pos = 0;
  while (true) {
    const size_t comma = text.find(',', pos);
    const std::string_view item =
        text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (item.empty()) throw InputError(fmt::format("{}: empty item in '{}'", what, text));
    items.push_back(item);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return items;
}

int64_t parse_integer(std::string_view text, std::string_view what, int64_t lo, int64_t hi) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) {
    throw InputError(fmt::format("{}: '{}' overflows 64 bits", what, text));
  }
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    throw InputError(fmt::format("{}: '{}' is not an integer", what, text));
  }
  if (v < lo || v > hi) {
    throw InputError(fmt::format("{}: {} is out of range ({} to {})", what, v, lo, hi));
  }
  return v;
}

int64_t parse_token_count(std::string_view text, std::string_view what) {
  std::string_view digits = text;
  int64_t mult = 1;
  if (!digits.empty()) {
    const char last = digits.back();
    if (last == 'k' || last == 'K') mult = 1024;
    if (last == 'm' || last == 'M') mult = 1024 * 1024;
    if (mult != 1) digits.remove_suffix(1);
  }
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || v <= 0) {
    throw InputError(
        fmt::format("{}: '{}' is not a positive token count (e.g. 8192, 32k)", what, text));
  }
  if (v > std::numeric_limits<int64_t>::max() / mult) {
    throw InputError(fmt::format("{}: '{}' overflows 64 bits", what, text));
  }
  return v * mult;
}

std::vector<int64_t> parse_token_counts(std::string_view text, std::string_view what) {
  std::vector<int64_t> out;
  for (std::string_view item : split_list(text, what)) out.push_back(parse_token_count(item, what));
  return out;
}

double parse_amount(std::string_view text, std::string_view what, AmountKind kind) {
  // Peel the unit letters off the end (an 'e' belongs to the exponent: "1e12").
  std::string_view number = text;
  std::string unit;
  while (!number.empty() && std::isalpha(static_cast<unsigned char>(number.back())) &&
         std::tolower(static_cast<unsigned char>(number.back())) != 'e') {
    unit.insert(unit.begin(), number.back());
    number.remove_suffix(1);
  }
  auto bad = [&] {
    return InputError(fmt::format(
        "{}: '{}' is not a non-negative amount (e.g. 70272, 64Ki, 80GB, 1.5e12)", what, text));
  };
  double mult = 1;
  if (!unit.empty()) {
    std::string u = unit;
    if (kind == AmountKind::kCount && (u == "B" || u == "b")) {
      mult = 1e9;
    } else {
      if (u.size() > 1 && (u.back() == 'B' || u.back() == 'b')) u.pop_back();
      if (u == "B" || u == "b") u.clear();  // plain bytes
      const bool binary = u.size() == 2 && (u[1] == 'i');
      if (binary) u.pop_back();
      if (u.size() > 1) throw bad();
      const double base = binary ? 1024.0 : 1000.0;
      int power = 0;
      if (!u.empty()) {
        switch (std::toupper(static_cast<unsigned char>(u[0]))) {
          case 'K':
            power = 1;
            break;
          case 'M':
            power = 2;
            break;
          case 'G':
            power = 3;
            break;
          case 'T':
            power = 4;
            break;
          case 'P':
            power = 5;
            break;
          default:
            throw bad();
        }
      }
      mult = std::pow(base, power);
    }
  }
  double v = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
  if (number.empty() || ec != std::errc() || end != number.data() + number.size() ||
      !std::isfinite(v) || v < 0 || !std::isfinite(v * mult)) {
    throw bad();
  }
  return v * mult;
}

std::vector<int64_t> parse_int_ranges(std::string_view text, std::string_view what, int64_t lo,
                                      int64_t hi, int64_t max_values) {
  std::vector<int64_t> out;
  auto value = [&](std::string_view s) { return parse_integer(s, what, lo, hi); };
  for (std::string_view item : split_list(text, what)) {
    // A '-' after the first character separates a range ("4-64"); a leading one is a sign.
    const size_t dash = item.find('-', 1);
    if (dash == std::string_view::npos) {
      out.push_back(value(item));
    } else {
      const std::string_view rest = item.substr(dash + 1);
      const size_t colon = rest.find(':');
      const int64_t a = value(item.substr(0, dash));
      const int64_t b = value(rest.substr(0, colon));
      const int64_t step =
          colon == std::string_view::npos ? 1 : parse_integer(rest.substr(colon + 1), what, 1);
      if (b < a) throw InputError(fmt::format("{}: range '{}' runs backwards", what, item));
      if ((b - a) / step >= max_values) {
        throw InputError(fmt::format("{}: range '{}' has over {} values", what, item, max_values));
      }
      for (int64_t v = a; v <= b; v += step) {
        out.push_back(v);
        if (v > b - step) break;  // no overflow past b
      }
    }
    if (static_cast<int64_t>(out.size()) > max_values) {
      throw InputError(fmt::format("{}: '{}' has over {} values", what, text, max_values));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string format_int_ranges(const std::vector<int64_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    if (i + 1 < v.size()) {
      const int64_t step = v[i + 1] - v[i];
      while (j + 1 < v.size() && v[j + 1] - v[j] == step) ++j;
      // A step run needs three values to be worth "a-b:s"; two consecutive ones are "a-b".
      if (j - i + 1 < 3 && step != 1) j = i;
    }
    if (!out.empty()) out += ",";
    out += std::to_string(v[i]);
    if (j > i) {
      out += "-" + std::to_string(v[j]);
      if (v[i + 1] - v[i] != 1) out += ":" + std::to_string(v[i + 1] - v[i]);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace gmha
