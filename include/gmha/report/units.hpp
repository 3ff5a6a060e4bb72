#pragma once
// Human-readable units for terminal tables: binary bytes (KiB, MiB, GiB, TiB), decimal counts
// (K, M, B, T), FLOPs (MFLOP, GFLOP, TFLOP) and dollars. Exact values go to CSV and JSON instead.
#include <cstdint>
#include <string>
#include <vector>

namespace gmha::report {

/// 1536 -> "1.50 KiB"; values under 1024 print as "512 B"; fractional bytes (int4) keep ".5".
std::string format_bytes(double bytes);
/// 671026419712 -> "671.03B"; under 1000 printed exactly.
std::string format_count(double n);
/// 5.9e11 -> "589.9 GFLOP".
std::string format_flops(double flops);
/// Rate: 1.98e15 -> "1.98 PFLOP/s".
std::string format_flop_rate(double flops_per_s);
/// Dollars with 4 significant digits: 0.01234 -> "$0.01234".
std::string format_usd(double usd);
/// A double with up to `digits` significant digits, no exponent for ordinary magnitudes.
std::string format_number(double v, int digits = 4);
/// An exact count as an integer string, or with .5 when it is a half (int4 bytes).
std::string format_exact(double v);

/// A token count as the CLI reads it: K = 1024 tokens (32768 -> "32K"), M = 1024² when exact;
/// other counts in full.
std::string format_token_count(int64_t tokens);

/// What a column of numbers measures, for unit_column.
enum class Quantity {
  kBytes,  // binary: B, KiB, MiB, GiB, TiB
  kCount,  // decimal: (none), K, M, B, T
  kFlops,  // decimal: FLOP, KFLOP (written kFLOP), MFLOP, GFLOP, TFLOP, PFLOP
  kUsd,    // dollars, no prefix
};

/// A column of values in one unit, for the header ("KV/token [GiB]"), and each value written in
/// it with the same number of decimals, so decimal points align. The unit is the largest one in
/// which the largest value is ≥ 1, or a smaller one when the smallest value would read below 0.1
/// and the largest stays under 100000; decimals are 2, more (up to 4) when the smallest nonzero
/// value needs them to show 2 significant digits. NaN values are written "-".
struct UnitColumn {
  std::string unit;
  std::vector<std::string> cells;
};
UnitColumn unit_column(const std::vector<double>& values, Quantity q);

}  // namespace gmha::report
