#include "gmha/core/dtype.hpp"

#include <cmath>

#include <fmt/format.h>

#include "gmha/core/error.hpp"

namespace gmha {

int dtype_bits(DType t) {
  switch (t) {
    case DType::kF64: case DType::kI64: return 64;
    case DType::kF32: case DType::kI32: return 32;
    case DType::kF16: case DType::kBF16: case DType::kI16: return 16;
    case DType::kF8E4M3: case DType::kF8E5M2: case DType::kI8: case DType::kU8:
    case DType::kBool: case DType::kF8E8M0: return 8;
    case DType::kF6E2M3: case DType::kF6E3M2: return 6;
    case DType::kInt4: case DType::kF4E2M1: return 4;
  }
  return 0;
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kF64: return "fp64";
    case DType::kF32: return "fp32";
    case DType::kF16: return "fp16";
    case DType::kBF16: return "bf16";
    case DType::kF8E4M3: return "fp8";
    case DType::kF8E5M2: return "fp8_e5m2";
    case DType::kI8: return "int8";
    case DType::kU8: return "uint8";
    case DType::kI16: return "int16";
    case DType::kI32: return "int32";
    case DType::kI64: return "int64";
    case DType::kBool: return "bool";
    case DType::kInt4: return "int4";
    case DType::kF4E2M1: return "fp4_e2m1";
    case DType::kF6E2M3: return "fp6_e2m3";
    case DType::kF6E3M2: return "fp6_e3m2";
    case DType::kF8E8M0: return "e8m0";
  }
  return "?";
}

std::optional<DType> find_kv_dtype(std::string_view n) {
  if (n == "fp32" || n == "f32" || n == "float32") return DType::kF32;
  if (n == "bf16" || n == "bfloat16") return DType::kBF16;
  if (n == "fp16" || n == "f16" || n == "float16") return DType::kF16;
  if (n == "fp8" || n == "f8" || n == "e4m3" || n == "fp8_e4m3") return DType::kF8E4M3;
  if (n == "fp8_e5m2" || n == "e5m2") return DType::kF8E5M2;
  if (n == "int8" || n == "i8") return DType::kI8;
  if (n == "int4" || n == "i4") return DType::kInt4;
  return std::nullopt;
}

DType read_kv_dtype(std::string_view name, const std::string& where) {
  if (auto t = find_kv_dtype(name)) return *t;
  if (name == "fp8_ds_mla") {
    throw InputError(fmt::format("{}: fp8_ds_mla is a cache layout of MLA latent rows, not an "
                                 "element dtype; use fp32, bf16, fp16, fp8, int8 or int4", where));
  }
  throw errors::unknown_name(where, "dtype", std::string(name), "fp32, bf16, fp16, fp8, int8, int4");
}

std::optional<KvCacheType> find_kv_cache_type(std::string_view name) {
  if (name == "fp8_ds_mla") return KvCacheType{DType::kF8E4M3, KvLayout::kFp8DsMla};
  if (auto t = find_kv_dtype(name)) return KvCacheType{*t, KvLayout::kElements};
  return std::nullopt;
}

KvCacheType read_kv_cache_type(std::string_view name, const std::string& where) {
  if (auto t = find_kv_cache_type(name)) return *t;
  throw errors::unknown_name(where, "dtype", std::string(name),
                             "fp32, bf16, fp16, fp8, int8, int4, fp8_ds_mla (MLA latent rows)");
}

std::string_view kv_cache_type_name(DType dtype, KvLayout layout) {
  return layout == KvLayout::kFp8DsMla ? "fp8_ds_mla" : dtype_name(dtype);
}

double unit_roundoff(DType t) {
  switch (t) {
    case DType::kF64: return std::ldexp(1.0, -53);
    case DType::kF32: return std::ldexp(1.0, -24);
    case DType::kF16: return std::ldexp(1.0, -11);
    case DType::kBF16: return std::ldexp(1.0, -8);
    case DType::kF8E4M3: return std::ldexp(1.0, -4);
    case DType::kF8E5M2: return std::ldexp(1.0, -3);
    case DType::kF4E2M1: return std::ldexp(1.0, -2);
    case DType::kF6E2M3: return std::ldexp(1.0, -4);
    case DType::kF6E3M2: return std::ldexp(1.0, -3);
    // Nearest power of two: x in [2^e, 2^(e+1)) rounds at 1.5·2^e (in log terms, at the
    // geometric mean it would be √2); the largest relative error is 1/3 (x = 1.5·2^e → 2^e·2).
    case DType::kF8E8M0: return 1.0 / 3.0;
    default: return 0.5;  // integer types: quantised, no meaningful roundoff
  }
}

}  // namespace gmha
