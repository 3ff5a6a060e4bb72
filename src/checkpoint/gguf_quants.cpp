// ggml block dequantisation. Layouts and formulas re-derived from ggml-org/ggml at d99724f2
// (src/ggml-common.h block structs, src/ggml-quants.c dequantize_row_*, src/ggml-impl.h scale
// conversions); see docs/formats.md. The arithmetic is kept in float and in ggml's order (e.g.
// Q6_K is (d * scale) * q, Q4_K is (d * sc) * q - (dmin * m)) so results match llama.cpp bit for
// bit. Inner loops run over the 16/32 values of a sub-block with no branches so GCC vectorises
// them; the file is compiled with -ffp-contract=off (sources.cmake) so a * b - c is never fused.
#include "gguf_quants.hpp"

#include <cmath>
#include <cstring>

#include "gmha/checkpoint/element_decode.hpp"

namespace gmha::detail {
namespace {

inline uint8_t u8(const std::byte* p, int64_t i) { return static_cast<uint8_t>(p[i]); }
inline float f16_at(const std::byte* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return f16_to_float(v);
}

// IQ4_NL / IQ4_XS non-linear levels (ggml-common.h kvalues_iq4nl).
constexpr int8_t kIq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                               1,    13,   25,  38,  53,  69,  89,  113};
// E2M1 values doubled (ggml kvalues_fp4); ggml halves the block scale instead.
constexpr int8_t kFp4x2[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// ---- 32-value blocks -------------------------------------------------------------------------

// Q4_0 (18 B): f16 d, 16 B nibbles; value j (j < 16) is low nibble of byte j, value j + 16 the
// high nibble; x = (q - 8) * d.
void q4_0(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 18, y += 32) {
    const float d = f16_at(s);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>((u8(s, 2 + j) & 0xF) - 8) * d;
      y[j + 16] = static_cast<float>((u8(s, 2 + j) >> 4) - 8) * d;
    }
  }
}

// Q4_1 (20 B): f16 d, f16 m, 16 B nibbles; x = q * d + m.
void q4_1(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 20, y += 32) {
    const float d = f16_at(s), m = f16_at(s + 2);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>(u8(s, 4 + j) & 0xF) * d + m;
      y[j + 16] = static_cast<float>(u8(s, 4 + j) >> 4) * d + m;
    }
  }
}

// Q5_0 (22 B): f16 d, u32 qh (bit j = 5th bit of value j), 16 B nibbles; x = (q - 16) * d.
void q5_0(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 22, y += 32) {
    const float d = f16_at(s);
    uint32_t qh;
    std::memcpy(&qh, s + 2, 4);
    for (int j = 0; j < 16; ++j) {
      const int h0 = static_cast<int>((qh >> j) & 1) << 4,
                h1 = static_cast<int>((qh >> (j + 16)) & 1) << 4;
      y[j] = static_cast<float>(((u8(s, 6 + j) & 0xF) | h0) - 16) * d;
      y[j + 16] = static_cast<float>(((u8(s, 6 + j) >> 4) | h1) - 16) * d;
    }
  }
}

// Q5_1 (24 B): f16 d, f16 m, u32 qh, 16 B nibbles; x = q * d + m.
void q5_1(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 24, y += 32) {
    const float d = f16_at(s), m = f16_at(s + 2);
    uint32_t qh;
    std::memcpy(&qh, s + 4, 4);
    for (int j = 0; j < 16; ++j) {
      const int h0 = static_cast<int>((qh >> j) & 1) << 4,
                h1 = static_cast<int>((qh >> (j + 16)) & 1) << 4;
      y[j] = static_cast<float>((u8(s, 8 + j) & 0xF) | h0) * d + m;
      y[j + 16] = static_cast<float>((u8(s, 8 + j) >> 4) | h1) * d + m;
    }
  }
}

// Q8_0 (34 B): f16 d, 32 int8; x = q * d.
void q8_0(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 34, y += 32) {
    const float d = f16_at(s);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<int8_t>(s[2 + j])) * d;
  }
}

// Q8_1 (36 B): f16 d, f16 s (= d * sum q, a dot-product helper, unused here), 32 int8; x = q * d.
void q8_1(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 36, y += 32) {
    const float d = f16_at(s);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<int8_t>(s[4 + j])) * d;
  }
}

// IQ4_NL (18 B): f16 d, 16 B nibbles indexing kIq4nl; x = d * level.
void iq4_nl(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 18, y += 32) {
    const float d = f16_at(s);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>(kIq4nl[u8(s, 2 + j) & 0xF]);
      y[j + 16] = d * static_cast<float>(kIq4nl[u8(s, 2 + j) >> 4]);
    }
  }
}

// ggml_e8m0_to_fp32_half: 2^(e - 128) as float (e = 0, 1 give the subnormals 2^-128, 2^-127).
inline float e8m0_half(uint8_t e) {
  const uint32_t bits = e < 2 ? (0x00200000u << e) : static_cast<uint32_t>(e - 1) << 23;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// MXFP4 (17 B): u8 E8M0 exponent e, 16 B E2M1 nibbles (low nibbles = values 0..15);
// x = (2 * e2m1) * 2^(e - 128).
void mxfp4(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 17, y += 32) {
    const float d = e8m0_half(u8(s, 0));
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>(kFp4x2[u8(s, 1 + j) & 0xF]) * d;
      y[j + 16] = static_cast<float>(kFp4x2[u8(s, 1 + j) >> 4]) * d;
    }
  }
}

// ggml_ue4m3_to_fp32: unsigned E4M3 (bias 7, the top bit ignored), 0 and 0x7f read as 0, halved
// to pair with the doubled E2M1 table.
float ue4m3_half(uint8_t x) {
  if (x == 0 || x == 0x7F) return 0.0f;
  const int exp = (x >> 3) & 0xF, man = x & 0x7;
  const float raw = exp == 0 ? std::ldexp(static_cast<float>(man), -9)
                             : std::ldexp(1.0f + static_cast<float>(man) / 8.0f, exp - 7);
  return raw * 0.5f;
}

// NVFP4 (36 B, 64 values): 4 UE4M3 sub-block scales, then 4 x 8 B of E2M1 nibbles; in sub-block
// k, value j (< 8) is the low nibble of byte 8k + j and value j + 8 its high nibble.
void nvfp4(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 36, y += 64) {
    for (int k = 0; k < 4; ++k) {
      const float d = ue4m3_half(u8(s, k));
      const std::byte* q = s + 4 + 8 * k;
      float* yk = y + 16 * k;
      for (int j = 0; j < 8; ++j) {
        yk[j] = static_cast<float>(kFp4x2[u8(q, j) & 0xF]) * d;
        yk[j + 8] = static_cast<float>(kFp4x2[u8(q, j) >> 4]) * d;
      }
    }
  }
}

// ---- 256-value super-blocks ------------------------------------------------------------------

// Q2_K (84 B): scales[16] (low nibble scale, high nibble min), qs[64] (2-bit), f16 d, f16 dmin.
// Value n*128 + 32j + 16g + l (n, g in {0,1}, j < 4, l < 16) is bits 2j..2j+1 of
// qs[32n + 16g + l], sub-block 8n + 2j + g; x = (d * sc) * q - (dmin * m).
void q2_k(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 84) {
    const float d = f16_at(s + 80), dmin = f16_at(s + 82);
    for (int n = 0; n < 2; ++n)
      for (int j = 0; j < 4; ++j)
        for (int g = 0; g < 2; ++g, y += 16) {
          const uint8_t sc = u8(s, 8 * n + 2 * j + g);
          const float dl = d * static_cast<float>(sc & 0xF),
                      ml = dmin * static_cast<float>(sc >> 4);
          const std::byte* q = s + 16 + 32 * n + 16 * g;
          for (int l = 0; l < 16; ++l)
            y[l] = dl * static_cast<float>((u8(q, l) >> (2 * j)) & 3) - ml;
        }
  }
}

// Q3_K (110 B): hmask[32], qs[64], scales[12] (16 six-bit scales), f16 d. Same value order as
// Q2_K; the high bit of value n*128 + 32j + 16g + l is bit 4n + j of hmask[16g + l], and a clear
// high bit subtracts 4: x = (d * (sc - 32)) * (q2 - 4 * !h).
void q3_k(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 110) {
    const float d = f16_at(s + 108);
    const std::byte* sb = s + 96;
    int8_t sc[16];
    for (int i = 0; i < 16; ++i) {
      const int lo = i < 8 ? (u8(sb, i) & 0xF) : (u8(sb, i - 8) >> 4);
      const int hi = (u8(sb, 8 + i % 4) >> (2 * (i / 4))) & 3;
      sc[i] = static_cast<int8_t>((lo | (hi << 4)) - 32);
    }
    for (int n = 0; n < 2; ++n)
      for (int j = 0; j < 4; ++j)
        for (int g = 0; g < 2; ++g, y += 16) {
          const float dl = d * static_cast<float>(sc[8 * n + 2 * j + g]);
          const std::byte* q = s + 32 + 32 * n + 16 * g;
          const std::byte* hm = s + 16 * g;
          const int hbit = 4 * n + j;
          for (int l = 0; l < 16; ++l) {
            const int v = ((u8(q, l) >> (2 * j)) & 3) - (((u8(hm, l) >> hbit) & 1) ? 0 : 4);
            y[l] = dl * static_cast<float>(v);
          }
        }
  }
}

// The 6-bit (scale, min) pair `j` (< 8) of Q4_K/Q5_K's 12 scale bytes (ggml get_scale_min_k4).
inline void scale_min_k4(int j, const std::byte* q, int& sc, int& m) {
  if (j < 4) {
    sc = u8(q, j) & 63;
    m = u8(q, j + 4) & 63;
  } else {
    sc = (u8(q, j + 4) & 0xF) | ((u8(q, j - 4) >> 6) << 4);
    m = (u8(q, j + 4) >> 4) | ((u8(q, j) >> 6) << 4);
  }
}

// Q4_K (144 B): f16 d, f16 dmin, scales[12], qs[128]. Chunk c (< 4) of 64 values: the first 32
// are the low nibbles of qs[32c..32c+31] with pair 2c, the next 32 the high nibbles with pair
// 2c+1; x = (d * sc) * q - (dmin * m).
void q4_k(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 144) {
    const float d = f16_at(s), dmin = f16_at(s + 2);
    for (int c = 0; c < 4; ++c, y += 64) {
      int sc0, m0, sc1, m1;
      scale_min_k4(2 * c, s + 4, sc0, m0);
      scale_min_k4(2 * c + 1, s + 4, sc1, m1);
      const float d1 = d * static_cast<float>(sc0), n1 = dmin * static_cast<float>(m0);
      const float d2 = d * static_cast<float>(sc1), n2 = dmin * static_cast<float>(m1);
      const std::byte* q = s + 16 + 32 * c;
      for (int l = 0; l < 32; ++l) y[l] = d1 * static_cast<float>(u8(q, l) & 0xF) - n1;
      for (int l = 0; l < 32; ++l) y[32 + l] = d2 * static_cast<float>(u8(q, l) >> 4) - n2;
    }
  }
}

// Q5_K (176 B): f16 d, f16 dmin, scales[12], qh[32], qs[128]. As Q4_K, plus 16 when bit 2c (low
// half) or 2c+1 (high half) of qh[l] is set.
void q5_k(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 176) {
    const float d = f16_at(s), dmin = f16_at(s + 2);
    const std::byte* qh = s + 16;
    for (int c = 0; c < 4; ++c, y += 64) {
      int sc0, m0, sc1, m1;
      scale_min_k4(2 * c, s + 4, sc0, m0);
      scale_min_k4(2 * c + 1, s + 4, sc1, m1);
      const float d1 = d * static_cast<float>(sc0), n1 = dmin * static_cast<float>(m0);
      const float d2 = d * static_cast<float>(sc1), n2 = dmin * static_cast<float>(m1);
      const std::byte* q = s + 48 + 32 * c;
      for (int l = 0; l < 32; ++l)
        y[l] = d1 * static_cast<float>((u8(q, l) & 0xF) + (((u8(qh, l) >> (2 * c)) & 1) << 4)) - n1;
      for (int l = 0; l < 32; ++l)
        y[32 + l] =
            d2 * static_cast<float>((u8(q, l) >> 4) + (((u8(qh, l) >> (2 * c + 1)) & 1) << 4)) - n2;
    }
  }
}

// Q6_K (210 B): ql[128], qh[64], int8 scales[16], f16 d. Half h (< 2) of 128 values, l < 32:
// value 128h + 32k + l takes its low 4 bits from ql[64h + l + 32(k&1)] (low nibble for k < 2,
// high for k >= 2) and its top 2 bits from bits 2k..2k+1 of qh[32h + l]; scale 8h + l/16 + 2k;
// x = (d * scale) * (q - 32).
void q6_k(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 210) {
    const float d = f16_at(s + 208);
    for (int h = 0; h < 2; ++h, y += 128) {
      const std::byte* ql = s + 64 * h;
      const std::byte* qh = s + 128 + 32 * h;
      const std::byte* sc = s + 192 + 8 * h;
      for (int k = 0; k < 4; ++k)
        for (int l = 0; l < 32; ++l) {
          const int lo = k < 2 ? (u8(ql, l + 32 * (k & 1)) & 0xF) : (u8(ql, l + 32 * (k & 1)) >> 4);
          const int q = (lo | (((u8(qh, l) >> (2 * k)) & 3) << 4)) - 32;
          const float dl = d * static_cast<float>(static_cast<int8_t>(sc[l / 16 + 2 * k]));
          y[32 * k + l] = dl * static_cast<float>(q);
        }
    }
  }
}

// Q8_K (292 B): f32 d, int8 qs[256], int16 bsums[16] (sums for dot products, unused); x = d * q.
void q8_k(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 292, y += 256) {
    float d;
    std::memcpy(&d, s, 4);
    for (int j = 0; j < 256; ++j) y[j] = d * static_cast<float>(static_cast<int8_t>(s[4 + j]));
  }
}

// IQ4_XS (136 B): f16 d, u16 scales_h, scales_l[4], qs[128]. Sub-block i (< 8) of 32: 6-bit
// scale ls = nibble i%2 of scales_l[i/2] | bits 2i..2i+1 of scales_h << 4; values as IQ4_NL from
// qs[16i..16i+15]; x = (d * (ls - 32)) * level.
void iq4_xs(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 136) {
    const float d = f16_at(s);
    uint16_t sh;
    std::memcpy(&sh, s + 2, 2);
    for (int i = 0; i < 8; ++i, y += 32) {
      const int ls = ((u8(s, 4 + i / 2) >> (4 * (i % 2))) & 0xF) | (((sh >> (2 * i)) & 3) << 4);
      const float dl = d * static_cast<float>(ls - 32);
      const std::byte* q = s + 8 + 16 * i;
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * static_cast<float>(kIq4nl[u8(q, j) & 0xF]);
        y[j + 16] = dl * static_cast<float>(kIq4nl[u8(q, j) >> 4]);
      }
    }
  }
}

// ---- ternary (BitNet b1.58 / TriLM) -----------------------------------------------------------

// The trit n (0 = most significant) of a byte holding base-3 digits scaled to 0..255 by
// ceil(v · 256 / 243): multiplying by 3^n (mod 256) shifts trit n to the top, and (q · 3) >> 8
// reads it (ggml dequantize_row_tq1_0). Returns -1, 0 or 1.
inline int trit(uint8_t byte, int n) {
  static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  const auto q = static_cast<uint8_t>(byte * kPow3[n]);
  return ((static_cast<uint16_t>(q) * 3) >> 8) - 1;
}

// TQ1_0 (54 B, 256 values): qs[48] five trits a byte, qh[4] four trits a byte, f16 d. Value
// 32n + m (n < 5, m < 32) is trit n of qs[m]; value 160 + 16n + m (m < 16) trit n of qs[32 + m];
// value 240 + 4n + j (n, j < 4) trit n of qh[j]; x = q * d.
void tq1_0(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 54, y += 256) {
    const float d = f16_at(s + 52);
    for (int n = 0; n < 5; ++n)
      for (int m = 0; m < 32; ++m) y[32 * n + m] = static_cast<float>(trit(u8(s, m), n)) * d;
    for (int n = 0; n < 5; ++n)
      for (int m = 0; m < 16; ++m)
        y[160 + 16 * n + m] = static_cast<float>(trit(u8(s, 32 + m), n)) * d;
    for (int n = 0; n < 4; ++n)
      for (int j = 0; j < 4; ++j) y[240 + 4 * n + j] = static_cast<float>(trit(u8(s, 48 + j), n)) * d;
  }
}

// TQ2_0 (66 B, 256 values): qs[64] four 2-bit codes a byte, f16 d. Value 128h + 32l + m (h < 2,
// l < 4, m < 32) is bits 2l..2l+1 of qs[32h + m]; x = (q - 1) * d.
void tq2_0(const std::byte* s, int64_t nb, float* y) {
  for (int64_t b = 0; b < nb; ++b, s += 66) {
    const float d = f16_at(s + 64);
    for (int h = 0; h < 2; ++h)
      for (int l = 0; l < 4; ++l, y += 32)
        for (int m = 0; m < 32; ++m)
          y[m] = static_cast<float>(((u8(s, 32 * h + m) >> (2 * l)) & 3) - 1) * d;
  }
}

constexpr GgufQuant kQuants[] = {
    {2, "Q4_0", 32, 18, q4_0},      {3, "Q4_1", 32, 20, q4_1},        {6, "Q5_0", 32, 22, q5_0},
    {7, "Q5_1", 32, 24, q5_1},      {8, "Q8_0", 32, 34, q8_0},        {9, "Q8_1", 32, 36, q8_1},
    {10, "Q2_K", 256, 84, q2_k},    {11, "Q3_K", 256, 110, q3_k},     {12, "Q4_K", 256, 144, q4_k},
    {13, "Q5_K", 256, 176, q5_k},   {14, "Q6_K", 256, 210, q6_k},     {15, "Q8_K", 256, 292, q8_k},
    {20, "IQ4_NL", 32, 18, iq4_nl}, {23, "IQ4_XS", 256, 136, iq4_xs}, {39, "MXFP4", 32, 17, mxfp4},
    {40, "NVFP4", 64, 36, nvfp4},   {34, "TQ1_0", 256, 54, tq1_0},    {35, "TQ2_0", 256, 66, tq2_0},
};

}  // namespace

const GgufQuant* gguf_quant(uint32_t type) {
  for (const auto& q : kQuants)
    if (q.type == type) return &q;
  return nullptr;
}

}  // namespace gmha::detail
