#pragma once
// Exact decoding of the storage element types found in checkpoints (docs/formats.md). Every value of the
// narrow formats is exactly representable as float, so decoding never rounds: bf16 and f16
// (subnormals included), OCP F8_E4M3FN (no infinities; S.1111.111 is NaN) and F8_E5M2 (IEEE-like,
// with infinities and NaNs), and the OCP microscaling (MX v1.0, section 5.3) elements F4 E2M1,
// F6 E2M3, F6 E3M2 (no infinities, no NaN) and the E8M0 scale.
#include <bit>
#include <cstdint>

#include "gmha/core/float_formats.hpp"

namespace gmha {

// bf16 and f16: bf16_to_float, float_to_bf16, f16_to_float in gmha/core/float_formats.hpp.
/// OCP F8_E4M3FN bits -> float: bias 7, subnormals, max 448, 0x7f/0xff NaN, no infinity.
float decode_f8_e4m3(uint8_t bits);
/// decode_f8_e4m3 of all 256 codes, indexed by the code: the readers' bulk loops look values up
/// instead of calling ldexp per element (an FP8 checkpoint's audit spent a third of its time there).
const float* f8_e4m3_values();
/// OCP F8_E5M2 bits -> float: bias 15, subnormals, 0x7c/0xfc ±inf, 0x7d-0x7f/0xfd-0xff NaN.
float decode_f8_e5m2(uint8_t bits);
/// OCP MX FP4 E2M1, the low 4 bits of `bits`: bias 1, ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}.
float decode_f4_e2m1(uint8_t bits);
/// OCP MX FP6 E2M3, the low 6 bits: bias 1, subnormals m/8, max ±7.5.
float decode_f6_e2m3(uint8_t bits);
/// OCP MX FP6 E3M2, the low 6 bits: bias 3, subnormals m/16, max ±28.
float decode_f6_e3m2(uint8_t bits);
/// OCP MX E8M0 scale: 2^(bits - 127) (0 is 2^-127, a float subnormal), 0xff NaN.
float decode_e8m0(uint8_t bits);

}  // namespace gmha
