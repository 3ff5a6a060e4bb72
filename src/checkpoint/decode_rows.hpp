#pragma once
// Internal: how stored elements become floats, shared by the three readers. Encodings are the
// row-local ones (each row of a tensor is a contiguous run of bytes); llama2.c's version-2 Q8_0
// keeps all its scales after all its values and is handled by its own reader.
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "gmha/checkpoint/element_decode.hpp"
#include "gmha/checkpoint/tensor_source.hpp"

static_assert(std::endian::native == std::endian::little,
              "checkpoint readers decode little-endian files by memcpy");

namespace gmha::detail {

enum class Encoding { kNone, kF64, kF32, kF16, kBF16, kF8E4M3, kF8E5M2, kE8M0, kGgufQ8_0 };

/// Elements per GGUF Q8_0 block and its size in bytes (f16 scale + 32 int8).
inline constexpr int64_t kQ80Block = 32;
inline constexpr int64_t kQ80BlockBytes = 34;

/// Bytes of one row of `cols` elements (cols already validated for block encodings).
inline uint64_t row_bytes(Encoding e, int64_t cols) {
  const uint64_t c = static_cast<uint64_t>(cols);
  switch (e) {
    case Encoding::kF64: return c * 8;
    case Encoding::kF32: return c * 4;
    case Encoding::kF16: case Encoding::kBF16: return c * 2;
    case Encoding::kF8E4M3: case Encoding::kF8E5M2: case Encoding::kE8M0: return c;
    case Encoding::kGgufQ8_0: return c / kQ80Block * kQ80BlockBytes;
    case Encoding::kNone: return 0;
  }
  return 0;
}

template <typename U>
inline U load(const std::byte* p) {
  U v;
  std::memcpy(&v, p, sizeof(U));
  return v;
}

/// Decodes `count` elements starting at `src` into `out`.
template <typename T>
void decode(Encoding e, const std::byte* src, int64_t count, T* out) {
  switch (e) {
    case Encoding::kF64:
      for (int64_t i = 0; i < count; ++i) out[i] = static_cast<T>(load<double>(src + 8 * i));
      return;
    case Encoding::kF32:
      for (int64_t i = 0; i < count; ++i) out[i] = static_cast<T>(load<float>(src + 4 * i));
      return;
    case Encoding::kF16:
      for (int64_t i = 0; i < count; ++i) out[i] = f16_to_float(load<uint16_t>(src + 2 * i));
      return;
    case Encoding::kBF16:
      for (int64_t i = 0; i < count; ++i) out[i] = bf16_to_float(load<uint16_t>(src + 2 * i));
      return;
    case Encoding::kF8E4M3:
      for (int64_t i = 0; i < count; ++i) out[i] = decode_f8_e4m3(static_cast<uint8_t>(src[i]));
      return;
    case Encoding::kF8E5M2:
      for (int64_t i = 0; i < count; ++i) out[i] = decode_f8_e5m2(static_cast<uint8_t>(src[i]));
      return;
    case Encoding::kE8M0:
      // OCP MX E8M0 scale: 2^(x - 127), exact in float except 0xff, which is NaN.
      for (int64_t i = 0; i < count; ++i) {
        const uint8_t x = static_cast<uint8_t>(src[i]);
        out[i] = x == 0xff ? static_cast<T>(NAN) : static_cast<T>(std::ldexp(1.0f, int{x} - 127));
      }
      return;
    case Encoding::kGgufQ8_0:
      // Blocks of 32: f16 scale d, then 32 int8 q; value = d * q (ggml dequantize_row_q8_0).
      for (int64_t b = 0; b < count / kQ80Block; ++b) {
        const std::byte* blk = src + b * kQ80BlockBytes;
        const T d = static_cast<T>(f16_to_float(load<uint16_t>(blk)));
        for (int64_t j = 0; j < kQ80Block; ++j)
          out[b * kQ80Block + j] = d * static_cast<T>(static_cast<int8_t>(blk[2 + j]));
      }
      return;
    case Encoding::kNone:
      return;
  }
}

/// Checks a read_rows request against the tensor; throws InputError naming `where` and the tensor.
void check_read(const TensorInfo& t, int64_t begin, int64_t end, size_t out_size,
                const std::string& where);

}  // namespace gmha::detail
