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

enum class Encoding {
  kNone, kF64, kF32, kF16, kBF16, kF8E4M3, kF8E5M2, kE8M0, kGgufQ8_0,
  kF4E2M1, kF6E2M3, kF6E3M2,  // sub-byte: packed LSB first (decode_packed)
};

/// Bits of one element of a sub-byte encoding (F4 4, F6 6), 0 for the byte-sized ones.
inline int packed_bits(Encoding e) {
  return e == Encoding::kF4E2M1 ? 4 : (e == Encoding::kF6E2M3 || e == Encoding::kF6E3M2) ? 6 : 0;
}

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
    case Encoding::kNone: case Encoding::kF4E2M1: case Encoding::kF6E2M3: case Encoding::kF6E3M2:
      return 0;  // no bytes, or not a whole number of bytes per row: see decode_packed
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
    case Encoding::kF8E4M3: {
      const float* values = f8_e4m3_values();
      for (int64_t i = 0; i < count; ++i) out[i] = values[static_cast<uint8_t>(src[i])];
      return;
    }
    case Encoding::kF8E5M2:
      for (int64_t i = 0; i < count; ++i) out[i] = decode_f8_e5m2(static_cast<uint8_t>(src[i]));
      return;
    case Encoding::kE8M0:
      // OCP MX E8M0 scale: 2^(x - 127), exact in float except 0xff, which is NaN.
      for (int64_t i = 0; i < count; ++i) out[i] = decode_e8m0(static_cast<uint8_t>(src[i]));
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
    case Encoding::kNone: case Encoding::kF4E2M1: case Encoding::kF6E2M3: case Encoding::kF6E3M2:
      return;  // sub-byte encodings go through decode_packed
  }
}

/// Decodes `count` sub-byte elements (F4, F6) into `out`. The elements form one little-endian
/// bit stream, element k in bits [k·w, k·w + w) counted from the least significant bit of byte
/// 0 (F4: the first element in the low nibble, as torch's float4_e2m1fn_x2). `src` is the byte
/// that holds the first element, which starts `shift` bits into it; `src_bytes` bounds the reads.
template <typename T>
void decode_packed(Encoding e, const std::byte* src, uint64_t src_bytes, int shift, int64_t count,
                   T* out) {
  const int w = packed_bits(e);
  const unsigned mask = (1u << w) - 1;
  for (int64_t k = 0; k < count; ++k) {
    const uint64_t bit = static_cast<uint64_t>(shift) + static_cast<uint64_t>(k) * w;
    const uint64_t at = bit / 8;
    const unsigned sh = static_cast<unsigned>(bit % 8);
    unsigned v = static_cast<uint8_t>(src[at]);
    if (sh + w > 8 && at + 1 < src_bytes) v |= static_cast<unsigned>(static_cast<uint8_t>(src[at + 1])) << 8;
    const auto code = static_cast<uint8_t>((v >> sh) & mask);
    out[k] = e == Encoding::kF4E2M1   ? decode_f4_e2m1(code)
             : e == Encoding::kF6E2M3 ? decode_f6_e2m3(code)
                                      : decode_f6_e3m2(code);
  }
}

/// Checks a read_rows request against the tensor; throws InputError naming `where` and the tensor.
void check_read(const TensorInfo& t, int64_t begin, int64_t end, size_t out_size,
                const std::string& where);

}  // namespace gmha::detail
