#include "gmha/core/float_formats.hpp"

#include <cmath>
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

}  // namespace gmha
