#include "gmha/report/units.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace gmha::report {

std::string format_number(double v, int digits) {
  if (v == 0) return "0";
  if (!std::isfinite(v)) return fmt::format("{}", v);
  const double a = std::fabs(v);
  if (a >= 1e15 || a < 1e-4) return fmt::format("{:.{}e}", v, digits - 1);
  const int int_digits = a >= 1 ? static_cast<int>(std::floor(std::log10(a))) + 1 : 0;
  int decimals = std::max(0, digits - int_digits);
  if (a < 1) decimals = digits - 1 - static_cast<int>(std::floor(std::log10(a)));
  std::string s = fmt::format("{:.{}f}", v, decimals);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s;
}

std::string format_exact(double v) {
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
    return fmt::format("{}", static_cast<long long>(v));
  }
  return fmt::format("{:.1f}", v);
}

std::string format_bytes(double bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (std::fabs(bytes) < 1024) return format_exact(bytes) + " B";
  int u = 0;
  double v = bytes;
  while (std::fabs(v) >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.2f} {}", v, kUnits[u]);
}

std::string format_count(double n) {
  if (std::fabs(n) < 1000) return format_exact(n);
  static const char* kUnits[] = {"", "K", "M", "B", "T", "P", "E"};
  int u = 0;
  double v = n;
  while (std::fabs(v) >= 1000 && u < 6) {
    v /= 1000;
    ++u;
  }
  return fmt::format("{:.2f}{}", v, kUnits[u]);
}

std::string format_flops(double flops) {
  static const char* kUnits[] = {"FLOP", "KFLOP", "MFLOP", "GFLOP", "TFLOP", "PFLOP", "EFLOP"};
  int u = 0;
  double v = flops;
  while (std::fabs(v) >= 1000 && u < 6) {
    v /= 1000;
    ++u;
  }
  return u == 0 ? format_exact(v) + " FLOP" : fmt::format("{:.1f} {}", v, kUnits[u]);
}

std::string format_flop_rate(double r) { return format_flops(r) + "/s"; }

std::string format_usd(double usd) { return "$" + format_number(usd, 4); }

std::string format_token_count(int64_t t) {
  if (t != 0 && t % (1024 * 1024) == 0) return fmt::format("{}M", t / (1024 * 1024));
  if (t != 0 && t % 1024 == 0) return fmt::format("{}K", t / 1024);
  return fmt::format("{}", t);
}

UnitColumn unit_column(const std::vector<double>& values, Quantity q) {
  struct Scale {
    const char* name;
    double factor;
  };
  static const std::vector<Scale> kBytes = {{"B", 1},          {"KiB", 1024.0},
                                            {"MiB", 1048576.0}, {"GiB", 1073741824.0},
                                            {"TiB", 1099511627776.0}};
  static const std::vector<Scale> kCount = {{"", 1}, {"K", 1e3}, {"M", 1e6}, {"B", 1e9}, {"T", 1e12}};
  static const std::vector<Scale> kFlops = {{"FLOP", 1},   {"kFLOP", 1e3}, {"MFLOP", 1e6},
                                            {"GFLOP", 1e9}, {"TFLOP", 1e12}, {"PFLOP", 1e15}};
  static const std::vector<Scale> kUsd = {{"USD", 1}};
  const std::vector<Scale>& scales = q == Quantity::kBytes   ? kBytes
                                     : q == Quantity::kCount ? kCount
                                     : q == Quantity::kFlops ? kFlops
                                                             : kUsd;
  double largest = 0.0, smallest = 0.0;
  bool all_integer = true;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    const double a = std::fabs(v);
    largest = std::max(largest, a);
    if (a > 0 && (smallest == 0 || a < smallest)) smallest = a;
    all_integer = all_integer && v == std::floor(v);
  }
  size_t u = 0;
  while (u + 1 < scales.size() && largest >= scales[u + 1].factor) ++u;
  // A smaller unit when the smallest value would read below 0.1 and the largest stays under
  // 100000 in it: 15.0 GiB beside 1250 GiB, not 0.015 TiB beside 1.221 TiB.
  while (u > 0 && smallest > 0 && smallest / scales[u].factor < 0.1 &&
         largest / scales[u - 1].factor < 1e5)
    --u;
  const double f = scales[u].factor;
  int decimals = 2;
  if (f == 1 && all_integer && q != Quantity::kUsd) decimals = 0;  // exact bytes, counts
  if (smallest > 0 && decimals > 0) {
    const int lead = static_cast<int>(std::floor(std::log10(smallest / f)));  // 0.0044 → -3
    decimals = std::clamp(1 - lead, 2, 4);
  }
  UnitColumn out;
  out.unit = scales[u].name;
  for (double v : values) {
    out.cells.push_back(std::isfinite(v) ? fmt::format("{:.{}f}", v / f, decimals) : "-");
  }
  return out;
}

}  // namespace gmha::report
