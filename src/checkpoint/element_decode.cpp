#include "gmha/checkpoint/element_decode.hpp"

#include <bit>
#include <cmath>
#include <limits>

namespace gmha {

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
  return f16_to_float(static_cast<uint16_t>(bits) << 8);
}

}  // namespace gmha
