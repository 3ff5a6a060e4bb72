#include "gmha/checkpoint/element_decode.hpp"

#include <bit>
#include <cmath>
#include <limits>

namespace gmha {

float decode_f16(uint16_t bits) {
  const bool neg = bits & 0x8000;
  const int exp = (bits >> 10) & 0x1f;
  const int man = bits & 0x3ff;
  float v;
  if (exp == 0) {
    v = std::ldexp(static_cast<float>(man), -24);  // subnormal: man * 2^-24
  } else if (exp == 0x1f) {
    v = man ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  } else {
    v = std::ldexp(static_cast<float>(man | 0x400), exp - 25);  // (1.man) * 2^(exp-15)
  }
  return neg ? -v : v;
}

float decode_f8_e4m3(uint8_t bits) {
  const bool neg = bits & 0x80;
  const int exp = (bits >> 3) & 0xf;
  const int man = bits & 0x7;
  float v;
  if (exp == 0xf && man == 0x7) {
    v = std::numeric_limits<float>::quiet_NaN();  // E4M3FN: the only NaN, no infinities
  } else if (exp == 0) {
    v = std::ldexp(static_cast<float>(man), -9);  // subnormal: man/8 * 2^-6
  } else {
    v = std::ldexp(static_cast<float>(man | 0x8), exp - 10);  // (1.man) * 2^(exp-7)
  }
  return neg ? -v : v;
}

float decode_f8_e5m2(uint8_t bits) {
  // E5M2 is binary16 with the low 8 mantissa bits dropped.
  return decode_f16(static_cast<uint16_t>(bits) << 8);
}

uint16_t encode_bf16(float value) {
  uint32_t u = std::bit_cast<uint32_t>(value);
  if (std::isnan(value)) return static_cast<uint16_t>((u >> 16) | 0x40);  // keep it a quiet NaN
  u += 0x7fff + ((u >> 16) & 1);  // round to nearest, ties to even
  return static_cast<uint16_t>(u >> 16);
}

}  // namespace gmha
