// Independent encoders for the quantized formats (see quant_encode.hpp). Scales are chosen the
// simple way (absmax / qmax), never by ggml's search: what matters here is that every field lands
// where the layout says, and that the expected floats follow the layout's formula.
#include "checkpoint/quant_encode.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "checkpoint/fixture_writer.hpp"

namespace gmha::test {

uint16_t to_f16(float v) {
  const uint32_t u = std::bit_cast<uint32_t>(v);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  const float a = std::fabs(v);
  if (a == 0.0f) return sign;
  // Scale so that the binary16 ulp becomes 1 and round with the current (nearest-even) mode.
  int e;
  std::frexp(a, &e);                       // a = m * 2^e, m in [0.5, 1)
  const int exp16 = std::max(e - 1, -14);  // unbiased exponent, clamped to the subnormal range
  const float ulp = std::ldexp(1.0f, exp16 - 10);
  const uint32_t m = static_cast<uint32_t>(std::nearbyint(a / ulp));  // up to 2048
  // m * 2^(exp16-10): normal if m >= 1024 (m == 2048 carries into the exponent).
  uint32_t bits;
  if (exp16 == -14 && m < 1024)
    bits = m;  // subnormal
  else
    bits = (static_cast<uint32_t>(exp16 + 15) << 10) + (m - 1024);
  if (bits >= 0x7c00) throw std::runtime_error("to_f16: overflow");
  return static_cast<uint16_t>(sign | bits);
}

float f16_value(uint16_t h) {
  const int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  const float v = exp == 0 ? std::ldexp(static_cast<float>(man), -24)
                           : std::ldexp(static_cast<float>(man | 0x400), exp - 25);
  return (h & 0x8000) ? -v : v;
}

std::vector<float> random_weights(int64_t n, uint32_t seed, float scale) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) {
    // A ratio of uniforms gives heavy tails; clamp so that no block is all one outlier.
    const float a = u(g), b = std::max(std::fabs(u(g)), 0.2f);
    v = scale * a / b;
  }
  return x;
}

namespace {

float absmax(const float* x, int n) {
  float m = 0;
  for (int i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}
int clampi(long v, int lo, int hi) { return static_cast<int>(std::clamp<long>(v, lo, hi)); }
int rnd(float v) { return static_cast<int>(std::lround(v)); }

constexpr int8_t kIq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                               1,    13,   25,  38,  53,  69,  89,  113};
constexpr float kE2M1[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

int nearest_iq4(float v) {
  int best = 0;
  for (int k = 1; k < 16; ++k)
    if (std::fabs(v - kIq4nl[k]) < std::fabs(v - kIq4nl[best])) best = k;
  return best;
}

// Packs 32 4-bit codes ggml-style: byte j holds code j (low nibble) and code j + 16 (high).
void pack_halves(std::string& out, const int* q, int n) {
  for (int j = 0; j < n / 2; ++j)
    out.push_back(static_cast<char>((q[j] & 0xF) | ((q[j + n / 2] & 0xF) << 4)));
}

// Q4_0 / Q5_0 / Q8_0 / Q8_1: symmetric, d = f16(absmax / qmax), q = round(x / d).
Encoded sym32(uint32_t type, const std::vector<float>& x) {
  Encoded e;
  for (size_t b = 0; b < x.size(); b += 32) {
    const float* xb = &x[b];
    const int qmax = type == 2 ? 7 : type == 6 ? 15 : 127;
    const uint16_t dh = to_f16(absmax(xb, 32) / static_cast<float>(qmax));
    const float d = f16_value(dh);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = clampi(rnd(xb[j] * id), -qmax - 1, qmax);
    put(e.bytes, dh);
    if (type == 2) {  // Q4_0: stored q + 8
      int u[32];
      for (int j = 0; j < 32; ++j) u[j] = q[j] + 8;
      pack_halves(e.bytes, u, 32);
    } else if (type == 6) {  // Q5_0: stored q + 16, bit 4 to qh
      uint32_t qh = 0;
      int u[32];
      for (int j = 0; j < 32; ++j) {
        u[j] = q[j] + 16;
        qh |= static_cast<uint32_t>((u[j] >> 4) & 1) << j;
      }
      put(e.bytes, qh);
      pack_halves(e.bytes, u, 32);
    } else {
      if (type == 9) {  // Q8_1: s = d * sum(q)
        int sum = 0;
        for (int j = 0; j < 32; ++j) sum += q[j];
        put(e.bytes, to_f16(d * static_cast<float>(sum)));
      }
      for (int j = 0; j < 32; ++j) e.bytes.push_back(static_cast<char>(static_cast<int8_t>(q[j])));
    }
    for (int j = 0; j < 32; ++j) e.values.push_back(static_cast<float>(q[j]) * d);
  }
  return e;
}

// Q4_1 / Q5_1: x = q * d + m with m = f16(min), d = f16((max - min) / qmax).
Encoded affine32(uint32_t type, const std::vector<float>& x) {
  Encoded e;
  const int qmax = type == 3 ? 15 : 31;
  for (size_t b = 0; b < x.size(); b += 32) {
    const float* xb = &x[b];
    const float lo = *std::min_element(xb, xb + 32), hi = *std::max_element(xb, xb + 32);
    const uint16_t dh = to_f16((hi - lo) / static_cast<float>(qmax)), mh = to_f16(lo);
    const float d = f16_value(dh), m = f16_value(mh);
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = d != 0 ? clampi(rnd((xb[j] - m) / d), 0, qmax) : 0;
    put(e.bytes, dh);
    put(e.bytes, mh);
    if (type == 7) {
      uint32_t qh = 0;
      for (int j = 0; j < 32; ++j) qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
      put(e.bytes, qh);
    }
    pack_halves(e.bytes, q, 32);
    for (int j = 0; j < 32; ++j) e.values.push_back(static_cast<float>(q[j]) * d + m);
  }
  return e;
}

Encoded iq4nl(const std::vector<float>& x) {
  Encoded e;
  for (size_t b = 0; b < x.size(); b += 32) {
    const float* xb = &x[b];
    const uint16_t dh = to_f16(absmax(xb, 32) / 127.0f);
    const float d = f16_value(dh);
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = d != 0 ? nearest_iq4(xb[j] / d) : 8;
    put(e.bytes, dh);
    pack_halves(e.bytes, q, 32);
    for (int j = 0; j < 32; ++j) e.values.push_back(d * static_cast<float>(kIq4nl[q[j]]));
  }
  return e;
}

// MXFP4 (GGUF): shared exponent e so that absmax / 2^(e-127) <= 6, codes E2M1.
Encoded mxfp4(const std::vector<float>& x) {
  Encoded e;
  for (size_t b = 0; b < x.size(); b += 32) {
    const float* xb = &x[b];
    const float am = absmax(xb, 32);
    int ex = am > 0 ? static_cast<int>(std::ceil(std::log2(am / 6.0f))) + 127 : 0;
    ex = std::clamp(ex, 1, 254);
    const float scale = std::ldexp(1.0f, ex - 127);
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = e2m1_code(xb[j] / scale);
    e.bytes.push_back(static_cast<char>(ex));
    pack_halves(e.bytes, q, 32);
    for (int j = 0; j < 32; ++j) e.values.push_back(e2m1_value(static_cast<uint8_t>(q[j])) * scale);
  }
  return e;
}

// UE4M3 encoding of a positive scale (nearest representable, normal range), and its value.
uint8_t ue4m3_code(float v) {
  uint8_t best = 0x08;
  for (uint8_t c = 0x08; c < 0x7F; ++c) {
    const float cv = std::ldexp(1.0f + static_cast<float>(c & 7) / 8.0f, ((c >> 3) & 0xF) - 7);
    const float bv =
        std::ldexp(1.0f + static_cast<float>(best & 7) / 8.0f, ((best >> 3) & 0xF) - 7);
    if (std::fabs(cv - v) < std::fabs(bv - v)) best = c;
  }
  return best;
}
float ue4m3_value(uint8_t c) {
  return std::ldexp(1.0f + static_cast<float>(c & 7) / 8.0f, ((c >> 3) & 0xF) - 7);
}

// NVFP4 (GGUF, 64 values): 4 UE4M3 scales (one per 16), then 4 x 8 bytes of codes.
Encoded nvfp4(const std::vector<float>& x) {
  Encoded e;
  for (size_t b = 0; b < x.size(); b += 64) {
    std::string scales, codes;
    std::vector<float> vals;
    for (int k = 0; k < 4; ++k) {
      const float* xb = &x[b + 16 * static_cast<size_t>(k)];
      const uint8_t sc = ue4m3_code(std::max(absmax(xb, 16) / 6.0f, std::ldexp(1.0f, -6)));
      const float s = ue4m3_value(sc);
      int q[16];
      for (int j = 0; j < 16; ++j) q[j] = e2m1_code(xb[j] / s);
      scales.push_back(static_cast<char>(sc));
      pack_halves(codes, q, 16);
      for (int j = 0; j < 16; ++j) vals.push_back(e2m1_value(static_cast<uint8_t>(q[j])) * s);
    }
    e.bytes += scales + codes;
    e.values.insert(e.values.end(), vals.begin(), vals.end());
  }
  return e;
}

// K-quants with (scale, min) per sub-block: Q2_K (16 x 16, 4-bit sc/m), Q4_K / Q5_K (8 x 32,
// 6-bit sc/m). x = (d * sc) * q - (dmin * m).
struct AffineSub {
  std::vector<int> sc, m, q;  // per sub-block, per sub-block, per value
  float d = 0, dmin = 0;
  uint16_t dh = 0, dminh = 0;
  std::vector<float> values;
};
AffineSub affine_super(const float* x, int nsub, int sub, int qmax, int smax) {
  AffineSub a;
  std::vector<float> scale(nsub), minv(nsub);
  for (int s = 0; s < nsub; ++s) {
    const float* xs = x + s * sub;
    const float lo = std::min(0.0f, *std::min_element(xs, xs + sub));
    const float hi = *std::max_element(xs, xs + sub);
    scale[s] = (hi - lo) / static_cast<float>(qmax);
    minv[s] = -lo;
  }
  a.dh = to_f16(*std::max_element(scale.begin(), scale.end()) / static_cast<float>(smax));
  a.dminh = to_f16(*std::max_element(minv.begin(), minv.end()) / static_cast<float>(smax));
  a.d = f16_value(a.dh);
  a.dmin = f16_value(a.dminh);
  for (int s = 0; s < nsub; ++s) {
    const int sc = a.d != 0 ? clampi(rnd(scale[s] / a.d), 0, smax) : 0;
    const int m = a.dmin != 0 ? clampi(rnd(minv[s] / a.dmin), 0, smax) : 0;
    a.sc.push_back(sc);
    a.m.push_back(m);
    const float dl = a.d * static_cast<float>(sc), ml = a.dmin * static_cast<float>(m);
    for (int j = 0; j < sub; ++j) {
      const int q = dl != 0 ? clampi(rnd((x[s * sub + j] + ml) / dl), 0, qmax) : 0;
      a.q.push_back(q);
      a.values.push_back(dl * static_cast<float>(q) - ml);
    }
  }
  return a;
}

Encoded q2k(const std::vector<float>& x) {
  Encoded e;
  for (size_t b = 0; b < x.size(); b += 256) {
    AffineSub a = affine_super(&x[b], 16, 16, 3, 15);
    for (int s = 0; s < 16; ++s) e.bytes.push_back(static_cast<char>(a.sc[s] | (a.m[s] << 4)));
    // Value n*128 + 32j + 16g + l lives in bits 2j of qs[32n + 16g + l].
    uint8_t qs[64] = {};
    for (int i = 0; i < 256; ++i) {
      const int n = i / 128, j = (i % 128) / 32, g = (i % 32) / 16, l = i % 16;
      qs[32 * n + 16 * g + l] |= static_cast<uint8_t>(a.q[i] << (2 * j));
    }
    e.bytes.append(reinterpret_cast<const char*>(qs), 64);
    put(e.bytes, a.dh);
    put(e.bytes, a.dminh);
    e.values.insert(e.values.end(), a.values.begin(), a.values.end());
  }
  return e;
}

// The 12 scale bytes of Q4_K / Q5_K: pairs 0..3 in the low 6 bits of bytes 0..3 (scale) and
// 4..7 (min); pairs 4..7 in the nibbles of bytes 8..11 with their top 2 bits in bits 6..7 of
// bytes 0..3 (scale) and 4..7 (min).
std::string k4_scales(const std::vector<int>& sc, const std::vector<int>& m) {
  uint8_t b[12] = {};
  for (int j = 0; j < 4; ++j) {
    b[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    b[j + 4] = static_cast<uint8_t>((m[j] & 63) | ((m[j + 4] >> 4) << 6));
    b[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
  return std::string(reinterpret_cast<const char*>(b), 12);
}

Encoded q45k(uint32_t type, const std::vector<float>& x) {
  Encoded e;
  const bool five = type == 13;
  for (size_t b = 0; b < x.size(); b += 256) {
    AffineSub a = affine_super(&x[b], 8, 32, five ? 31 : 15, 63);
    put(e.bytes, a.dh);
    put(e.bytes, a.dminh);
    e.bytes += k4_scales(a.sc, a.m);
    // Chunk c: values 64c + l (low nibble of qs[32c + l]) and 64c + 32 + l (high nibble).
    uint8_t qs[128] = {}, qh[32] = {};
    for (int i = 0; i < 256; ++i) {
      const int c = i / 64, hi = (i % 64) / 32, l = i % 32;
      qs[32 * c + l] |= static_cast<uint8_t>((a.q[i] & 0xF) << (4 * hi));
      qh[l] |= static_cast<uint8_t>(((a.q[i] >> 4) & 1) << (2 * c + hi));
    }
    if (five) e.bytes.append(reinterpret_cast<const char*>(qh), 32);
    e.bytes.append(reinterpret_cast<const char*>(qs), 128);
    e.values.insert(e.values.end(), a.values.begin(), a.values.end());
  }
  return e;
}

// Q3_K: 16 x 16, signed 6-bit scales (stored + 32), 3-bit q in [-4, 3] (stored q + 4: 2 low bits
// in qs like Q2_K, bit 2 in hmask). x = (d * sc) * q.
Encoded q3k(const std::vector<float>& x) {
  Encoded e;
  for (size_t b = 0; b < x.size(); b += 256) {
    const float* xb = &x[b];
    float sub[16];
    for (int s = 0; s < 16; ++s) sub[s] = absmax(xb + 16 * s, 16) / 4.0f;
    const uint16_t dh = to_f16(*std::max_element(sub, sub + 16) / 31.0f);
    const float d = f16_value(dh);
    int sc[16];
    uint8_t hm[32] = {}, qs[64] = {}, sb[12] = {};
    std::vector<float> vals(256);
    for (int s = 0; s < 16; ++s) sc[s] = d != 0 ? clampi(rnd(sub[s] / d), -32, 31) : 0;
    for (int i = 0; i < 256; ++i) {
      const int n = i / 128, j = (i % 128) / 32, g = (i % 32) / 16, l = i % 16;
      const int s = 8 * n + 2 * j + g;
      const float dl = d * static_cast<float>(sc[s]);
      const int q = dl != 0 ? clampi(rnd(xb[i] / dl), -4, 3) : 0;
      const int u = q + 4;
      qs[32 * n + 16 * g + l] |= static_cast<uint8_t>((u & 3) << (2 * j));
      hm[16 * g + l] |= static_cast<uint8_t>(((u >> 2) & 1) << (4 * n + j));
      vals[static_cast<size_t>(i)] = dl * static_cast<float>(q);
    }
    for (int s = 0; s < 16; ++s) {
      const int u = sc[s] + 32;
      if (s < 8)
        sb[s] |= static_cast<uint8_t>(u & 0xF);
      else
        sb[s - 8] |= static_cast<uint8_t>((u & 0xF) << 4);
      sb[8 + s % 4] |= static_cast<uint8_t>(((u >> 4) & 3) << (2 * (s / 4)));
    }
    e.bytes.append(reinterpret_cast<const char*>(hm), 32);
    e.bytes.append(reinterpret_cast<const char*>(qs), 64);
    e.bytes.append(reinterpret_cast<const char*>(sb), 12);
    put(e.bytes, dh);
    e.values.insert(e.values.end(), vals.begin(), vals.end());
  }
  return e;
}

// Q6_K: 16 x 16, int8 scales, 6-bit q in [-32, 31] stored + 32. x = (d * sc) * q.
Encoded q6k(const std::vector<float>& x) {
  Encoded e;
  for (size_t b = 0; b < x.size(); b += 256) {
    const float* xb = &x[b];
    float sub[16];
    for (int s = 0; s < 16; ++s) sub[s] = absmax(xb + 16 * s, 16) / 32.0f;
    const uint16_t dh = to_f16(*std::max_element(sub, sub + 16) / 127.0f);
    const float d = f16_value(dh);
    int sc[16];
    for (int s = 0; s < 16; ++s) sc[s] = d != 0 ? clampi(rnd(sub[s] / d), -128, 127) : 0;
    uint8_t ql[128] = {}, qh[64] = {};
    std::vector<float> vals(256);
    // Value 128h + 32k + l: low nibble in ql[64h + l + 32(k%2)] (high nibble when k >= 2), top
    // bits at 2k of qh[32h + l], scale 8h + 2k + l/16.
    for (int i = 0; i < 256; ++i) {
      const int h = i / 128, k = (i % 128) / 32, l = i % 32;
      const float dl = d * static_cast<float>(sc[8 * h + 2 * k + l / 16]);
      const int q = dl != 0 ? clampi(rnd(xb[i] / dl), -32, 31) : 0;
      const int u = q + 32;
      ql[64 * h + l + 32 * (k % 2)] |= static_cast<uint8_t>((u & 0xF) << (k >= 2 ? 4 : 0));
      qh[32 * h + l] |= static_cast<uint8_t>(((u >> 4) & 3) << (2 * k));
      vals[static_cast<size_t>(i)] = dl * static_cast<float>(q);
    }
    e.bytes.append(reinterpret_cast<const char*>(ql), 128);
    e.bytes.append(reinterpret_cast<const char*>(qh), 64);
    for (int s = 0; s < 16; ++s) e.bytes.push_back(static_cast<char>(static_cast<int8_t>(sc[s])));
    put(e.bytes, dh);
    e.values.insert(e.values.end(), vals.begin(), vals.end());
  }
  return e;
}

Encoded q8k(const std::vector<float>& x) {
  Encoded e;
  for (size_t b = 0; b < x.size(); b += 256) {
    const float* xb = &x[b];
    const float d = absmax(xb, 256) / 127.0f;
    put(e.bytes, d);
    int16_t bsums[16] = {};
    std::vector<int> q(256);
    for (int i = 0; i < 256; ++i) {
      q[static_cast<size_t>(i)] = d != 0 ? clampi(rnd(xb[i] / d), -127, 127) : 0;
      bsums[i / 16] = static_cast<int16_t>(bsums[i / 16] + q[static_cast<size_t>(i)]);
      e.bytes.push_back(static_cast<char>(static_cast<int8_t>(q[static_cast<size_t>(i)])));
    }
    for (auto s : bsums) put(e.bytes, s);
    for (int i = 0; i < 256; ++i)
      e.values.push_back(d * static_cast<float>(q[static_cast<size_t>(i)]));
  }
  return e;
}

// IQ4_XS: 8 x 32, 6-bit scales (stored ls = sc + 32): low 4 bits in scales_l nibbles, top 2 in
// scales_h. x = (d * sc) * level.
Encoded iq4xs(const std::vector<float>& x) {
  Encoded e;
  for (size_t b = 0; b < x.size(); b += 256) {
    const float* xb = &x[b];
    float sub[8];
    for (int s = 0; s < 8; ++s) sub[s] = absmax(xb + 32 * s, 32) / 127.0f;
    const uint16_t dh = to_f16(*std::max_element(sub, sub + 8) / 31.0f);
    const float d = f16_value(dh);
    uint16_t sh = 0;
    uint8_t sl[4] = {};
    std::string qs;
    for (int s = 0; s < 8; ++s) {
      const int sc = d != 0 ? clampi(rnd(sub[s] / d), -32, 31) : 0;
      const int ls = sc + 32;
      sl[s / 2] |= static_cast<uint8_t>((ls & 0xF) << (4 * (s % 2)));
      sh |= static_cast<uint16_t>(((ls >> 4) & 3) << (2 * s));
      const float dl = d * static_cast<float>(sc);
      int q[32];
      for (int j = 0; j < 32; ++j) q[j] = dl != 0 ? nearest_iq4(xb[32 * s + j] / dl) : 8;
      pack_halves(qs, q, 32);
      for (int j = 0; j < 32; ++j) e.values.push_back(dl * static_cast<float>(kIq4nl[q[j]]));
    }
    put(e.bytes, dh);
    put(e.bytes, sh);
    e.bytes.append(reinterpret_cast<const char*>(sl), 4);
    e.bytes += qs;
  }
  return e;
}

}  // namespace

uint8_t e2m1_code(float v) {
  const float a = std::fabs(v);
  uint8_t best = 0;
  for (uint8_t k = 1; k < 8; ++k)
    if (std::fabs(a - kE2M1[k]) < std::fabs(a - kE2M1[best])) best = k;
  return static_cast<uint8_t>(best | (v < 0 && best != 0 ? 8 : 0));
}

float e2m1_value(uint8_t code) {
  const float v = kE2M1[code & 7];
  return (code & 8) ? -v : v;
}

int64_t gguf_block(uint32_t type) {
  switch (type) {
    case 10:
    case 11:
    case 12:
    case 13:
    case 14:
    case 15:
    case 23:
      return 256;
    case 40:
      return 64;
    default:
      return 32;
  }
}

Encoded encode_gguf(uint32_t type, const std::vector<float>& x) {
  if (x.size() % static_cast<size_t>(gguf_block(type)) != 0)
    throw std::runtime_error("encode_gguf: size is not a multiple of the block");
  switch (type) {
    case 2:
    case 6:
    case 8:
    case 9:
      return sym32(type, x);
    case 3:
    case 7:
      return affine32(type, x);
    case 10:
      return q2k(x);
    case 11:
      return q3k(x);
    case 12:
    case 13:
      return q45k(type, x);
    case 14:
      return q6k(x);
    case 15:
      return q8k(x);
    case 20:
      return iq4nl(x);
    case 23:
      return iq4xs(x);
    case 39:
      return mxfp4(x);
    case 40:
      return nvfp4(x);
    default:
      throw std::runtime_error("encode_gguf: no encoder for this type");
  }
}

}  // namespace gmha::test
