#pragma once
// Element types: the storage dtypes of checkpoints and the KV-cache dtypes of designs.
// Sizes are in bits because int4 is half a byte; byte counts are derived exactly from bits.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gmha {

enum class DType {
  kF64,
  kF32,
  kF16,
  kBF16,
  kF8E4M3,  // OCP E4M3FN: no infinities, NaN = S.1111.111
  kF8E5M2,
  kI8,
  kU8,
  kI16,
  kI32,
  kI64,
  kBool,
  kInt4,
};

/// Bits per element (int4: 4).
int dtype_bits(DType t);
/// Canonical lower-case name used in designs and output: fp32, bf16, fp16, fp8, int8, int4, ...
std::string_view dtype_name(DType t);
/// Parses a KV-cache dtype name (fp32|f32|float32, bf16, fp16|f16, fp8|f8|e4m3, int8, int4).
std::optional<DType> find_kv_dtype(std::string_view name);
/// Parses a KV dtype or throws InputError naming `where` and listing the valid names.
DType read_kv_dtype(std::string_view name, const std::string& where);
/// Unit roundoff u of a floating dtype (f32 2^-24, f16 2^-11, bf16 2^-8, e4m3 2^-4, e5m2 2^-3).
double unit_roundoff(DType t);

}  // namespace gmha
