// Exact decoding of the narrow float formats: hand-computed values at the edges (subnormals,
// largest finite, infinities, NaN) and exhaustive agreement with independent references.
#include <bit>
#include <cmath>
#include <cstdint>

#include <catch2/catch.hpp>

#include "gmha/checkpoint/element_decode.hpp"

using namespace gmha;

TEST_CASE("f16: subnormals, extremes, infinities and NaN decode exactly", "[checkpoint]") {
  CHECK(f16_to_float(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(f16_to_float(0x03ff) == std::ldexp(1023.0f, -24));  // largest subnormal
  CHECK(f16_to_float(0x0400) == std::ldexp(1.0f, -14));  // smallest normal
  CHECK(f16_to_float(0x3c00) == 1.0f);
  CHECK(f16_to_float(0xc000) == -2.0f);
  CHECK(f16_to_float(0x7bff) == 65504.0f);
  CHECK(f16_to_float(0x7c00) == INFINITY);
  CHECK(f16_to_float(0xfc00) == -INFINITY);
  CHECK(std::isnan(f16_to_float(0x7e00)));
  CHECK(std::signbit(f16_to_float(0x8000)));
}

TEST_CASE("f16: all 65536 codes agree with the compiler's _Float16", "[checkpoint]") {
  int mismatches = 0;
  for (uint32_t b = 0; b < 65536; ++b) {
    const float ref = static_cast<float>(std::bit_cast<_Float16>(static_cast<uint16_t>(b)));
    const float got = f16_to_float(static_cast<uint16_t>(b));
    if (std::isnan(ref) ? !std::isnan(got) : std::bit_cast<uint32_t>(ref) != std::bit_cast<uint32_t>(got))
      ++mismatches;
  }
  CHECK(mismatches == 0);
}

TEST_CASE("bf16: decoding is the top half of float32 and rounding is to nearest even",
          "[checkpoint]") {
  CHECK(bf16_to_float(0x3f80) == 1.0f);
  CHECK(bf16_to_float(0x0001) == std::ldexp(1.0f, -133));  // smallest subnormal
  CHECK(bf16_to_float(0x7f80) == INFINITY);
  CHECK(std::isnan(bf16_to_float(0x7fc0)));
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1); a hair above rounds up.
  CHECK(float_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);
  CHECK(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);
  CHECK(float_to_bf16(std::nextafter(1.0f + std::ldexp(1.0f, -8), 2.0f)) == 0x3f81);
  CHECK(std::isnan(bf16_to_float(float_to_bf16(NAN))));
  for (uint32_t b = 0; b < 65536; ++b) {
    const float v = bf16_to_float(static_cast<uint16_t>(b));
    if (!std::isnan(v)) REQUIRE(float_to_bf16(v) == b);  // every bf16 value round-trips
  }
}

TEST_CASE("F8_E4M3FN: bias 7, subnormals, max 448, only S.1111.111 is NaN, no infinity",
          "[checkpoint]") {
  CHECK(decode_f8_e4m3(0x01) == std::ldexp(1.0f, -9));  // smallest subnormal
  CHECK(decode_f8_e4m3(0x07) == 7 * std::ldexp(1.0f, -9));
  CHECK(decode_f8_e4m3(0x08) == std::ldexp(1.0f, -6));  // smallest normal
  CHECK(decode_f8_e4m3(0x38) == 1.0f);
  CHECK(decode_f8_e4m3(0x7e) == 448.0f);
  CHECK(decode_f8_e4m3(0xfe) == -448.0f);
  CHECK(decode_f8_e4m3(0x78) == 256.0f);  // exponent 15 is finite in E4M3FN
  CHECK(std::isnan(decode_f8_e4m3(0x7f)));
  CHECK(std::isnan(decode_f8_e4m3(0xff)));
  int nans = 0;
  for (int b = 0; b < 256; ++b) {
    const float v = decode_f8_e4m3(static_cast<uint8_t>(b));
    if (std::isnan(v)) { ++nans; continue; }
    REQUIRE(std::isfinite(v));
    // Independent formula: (-1)^s * 2^(e-7) * (1 + m/8), or 2^-6 * m/8 when e == 0.
    const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
    const double ref = (s ? -1.0 : 1.0) * (e == 0 ? std::ldexp(m / 8.0, -6)
                                                  : std::ldexp(1.0 + m / 8.0, e - 7));
    REQUIRE(v == ref);
  }
  CHECK(nans == 2);
}

TEST_CASE("F8_E5M2: bias 15, subnormals, max 57344, infinities and NaNs", "[checkpoint]") {
  CHECK(decode_f8_e5m2(0x01) == std::ldexp(1.0f, -16));
  CHECK(decode_f8_e5m2(0x04) == std::ldexp(1.0f, -14));
  CHECK(decode_f8_e5m2(0x3c) == 1.0f);
  CHECK(decode_f8_e5m2(0x7b) == 57344.0f);
  CHECK(decode_f8_e5m2(0x7c) == INFINITY);
  CHECK(decode_f8_e5m2(0xfc) == -INFINITY);
  int nans = 0;
  for (int b = 0; b < 256; ++b) {
    const float v = decode_f8_e5m2(static_cast<uint8_t>(b));
    if (std::isnan(v)) { ++nans; continue; }
    const int s = b >> 7, e = (b >> 2) & 31, m = b & 3;
    if (e == 31) { REQUIRE(std::isinf(v)); continue; }
    const double ref = (s ? -1.0 : 1.0) * (e == 0 ? std::ldexp(m / 4.0, -14)
                                                  : std::ldexp(1.0 + m / 4.0, e - 15));
    REQUIRE(v == ref);
  }
  CHECK(nans == 6);
}
