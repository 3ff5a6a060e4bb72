#pragma once
// Exact decoding of the storage element types found in checkpoints (primer §6). Every value of the
// narrow formats is exactly representable as float, so decoding never rounds: bf16 and f16
// (subnormals included), OCP F8_E4M3FN (no infinities; S.1111.111 is NaN) and F8_E5M2 (IEEE-like,
// with infinities and NaNs).
#include <bit>
#include <cstdint>

namespace gmha {

/// bfloat16 bits -> float (exact; NaN payloads kept). Inline so that the readers' conversion loops
/// vectorise (bf16 is the top half of a float32: the shift is exact for every value).
inline float decode_bf16(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }
/// IEEE binary16 bits -> float (exact, subnormals, ±inf and NaN).
float decode_f16(uint16_t bits);
/// OCP F8_E4M3FN bits -> float: bias 7, subnormals, max 448, 0x7f/0xff NaN, no infinity.
float decode_f8_e4m3(uint8_t bits);
/// OCP F8_E5M2 bits -> float: bias 15, subnormals, 0x7c/0xfc ±inf, 0x7d-0x7f/0xfd-0xff NaN.
float decode_f8_e5m2(uint8_t bits);
/// float -> bfloat16 bits, round to nearest even (NaN stays NaN). Used by tests and writers.
uint16_t encode_bf16(float value);

}  // namespace gmha
