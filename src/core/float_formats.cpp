#include "gmha/core/float_formats.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace gmha {

float f16_to_float(uint16_t bits) {
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

uint16_t float_to_f16(float value) {
  uint32_t u;
  std::memcpy(&u, &value, 4);
  const auto sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  u &= 0x7FFFFFFFu;
  if (u > 0x7F800000u) return sign | 0x7E00u;   // NaN
  if (u >= 0x477FF000u) return sign | 0x7C00u;  // 65520 and up round to infinity
  if (u < 0x38800000u) {
    // Below 2^-14: a subnormal m·2^-24. |x|·2^24 is exact, and nearbyint rounds it to nearest
    // even; m = 1024 is the smallest normal's bit pattern, so the carry is right too.
    float a;
    std::memcpy(&a, &u, 4);
    return sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0f));
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to even; a
  // carry out of the mantissa steps the exponent, as it should.
  u -= 112u << 23;
  u += 0x0FFFu + ((u >> 13) & 1u);
  return sign | static_cast<uint16_t>(u >> 13);
}

}  // namespace gmha
