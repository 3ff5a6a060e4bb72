#include "gmha/checkpoint/element_decode.hpp"

#include <array>
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

const float* f8_e4m3_values() {
  static const auto table = [] {
    std::array<float, 256> t{};
    for (int c = 0; c < 256; ++c) t[static_cast<size_t>(c)] = decode_f8_e4m3(static_cast<uint8_t>(c));
    return t;
  }();
  return table.data();
}

float decode_f8_e5m2(uint8_t bits) {
  // E5M2 is binary16 with the low 8 mantissa bits dropped.
  return f16_to_float(static_cast<uint16_t>(bits) << 8);
}

namespace {

// A sign + E exponent bits (bias `bias`) + M mantissa bits minifloat with no infinities or NaN
// (the OCP MX elements): exponent 0 is subnormal, m / 2^M · 2^(1 - bias).
float minifloat(uint8_t bits, int e_bits, int m_bits, int bias) {
  const int m = bits & ((1 << m_bits) - 1);
  const int e = (bits >> m_bits) & ((1 << e_bits) - 1);
  const bool neg = (bits >> (e_bits + m_bits)) & 1;
  const float v = e == 0 ? std::ldexp(static_cast<float>(m), 1 - bias - m_bits)
                         : std::ldexp(static_cast<float>(m | (1 << m_bits)), e - bias - m_bits);
  return neg ? -v : v;
}

}  // namespace

float decode_f4_e2m1(uint8_t bits) { return minifloat(bits & 0xF, 2, 1, 1); }
float decode_f6_e2m3(uint8_t bits) { return minifloat(bits & 0x3F, 2, 3, 1); }
float decode_f6_e3m2(uint8_t bits) { return minifloat(bits & 0x3F, 3, 2, 3); }

float decode_e8m0(uint8_t bits) {
  return bits == 0xff ? std::numeric_limits<float>::quiet_NaN() : std::ldexp(1.0f, int{bits} - 127);
}

}  // namespace gmha
