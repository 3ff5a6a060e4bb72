#pragma once
// Exact decoding of the storage element types found in checkpoints (docs/formats.md). Every value of the
// narrow formats is exactly representable as float, so decoding never rounds: bf16 and f16
// (subnormals included), OCP F8_E4M3FN (no infinities; S.1111.111 is NaN) and F8_E5M2 (IEEE-like,
// with infinities and NaNs).
#include <bit>
#include <cstdint>

#include "gmha/core/float_formats.hpp"

namespace gmha {

// bf16 and f16: bf16_to_float, float_to_bf16, f16_to_float in gmha/core/float_formats.hpp.
/// OCP F8_E4M3FN bits -> float: bias 7, subnormals, max 448, 0x7f/0xff NaN, no infinity.
float decode_f8_e4m3(uint8_t bits);
/// OCP F8_E5M2 bits -> float: bias 15, subnormals, 0x7c/0xfc ±inf, 0x7d-0x7f/0xfd-0xff NaN.
float decode_f8_e5m2(uint8_t bits);

}  // namespace gmha
