#pragma once
// The one conversion between float and the 16-bit float formats (bfloat16, IEEE binary16), used
// by the checkpoint readers and writers, the kernels' bf16 caches, synth and the CUDA device check.
// C++17 (nvcc builds src/kernels/cuda/device_check.cu with it) and inline, so the readers' and
// kernels' conversion loops vectorise.
#include <cstdint>
#include <cstring>

namespace gmha {

/// bfloat16 bits -> float: exact for every value (bf16 is the top half of a float32; NaN payloads
/// kept).
inline float bf16_to_float(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// float -> bfloat16 bits, round to nearest, ties to even; a NaN stays a (quiet) NaN instead of
/// rounding up into an infinity.
inline uint16_t float_to_bf16(float value) {
  uint32_t u;
  std::memcpy(&u, &value, 4);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

/// IEEE binary16 bits -> float: exact (subnormals m·2⁻²⁴, ±inf, NaN).
float f16_to_float(uint16_t bits);
/// float -> IEEE binary16 bits, round to nearest, ties to even (subnormals included; beyond
/// 65504 by half a step or more is ±inf; NaN stays a quiet NaN). The writers' one conversion.
uint16_t float_to_f16(float value);

}  // namespace gmha
