// Block quantization for the formats synth writes (include/gmha/checkpoint/block_encode.hpp).
// Layouts are the readers' (gguf_quants.cpp, safetensors_quant.cpp, docs/formats.md); the
// scale choices are written here from the formats' definitions, not from ggml's quantizers.
#include "gmha/checkpoint/block_encode.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "gmha/checkpoint/element_decode.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/float_formats.hpp"

namespace gmha {
namespace {

void put_f16(std::byte* p, float v) {
  const uint16_t h = float_to_f16(v);
  std::memcpy(p, &h, 2);
}
int clamp_round(float v, int lo, int hi) {
  return static_cast<int>(std::clamp(std::nearbyint(v), static_cast<float>(lo), static_cast<float>(hi)));
}
float absmax(const float* x, int64_t n) {
  float m = 0.0f;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

// ---- Q8_0: f16 d = absmax / 127, int8 q = round(x / d) ------------------------------------------
void q8_0(const float* x, int64_t nb, std::byte* out) {
  for (int64_t b = 0; b < nb; ++b, x += 32, out += 34) {
    const uint16_t dh = float_to_f16(absmax(x, 32) / 127.0f);
    std::memcpy(out, &dh, 2);
    const float d = f16_to_float(dh);  // quantise against the scale the reader will see
    for (int j = 0; j < 32; ++j) {
      const int q = d > 0 ? clamp_round(x[j] / d, -127, 127) : 0;
      out[2 + j] = static_cast<std::byte>(static_cast<int8_t>(q));
    }
  }
}

// ---- K-quants with a (scale, min) pair per sub-block: x ≈ a · q - b, q in [0, qmax] -------------

// The best (a, b ≥ 0) for one sub-block: start from its range [min(0, lo), hi], then alternate
// rounding q and a least-squares fit of (a, b) to the chosen q, keeping the best squared error.
void fit_affine(const float* x, int n, int qmax, float& a, float& b) {
  const float lo = std::min(0.0f, *std::min_element(x, x + n));
  const float hi = *std::max_element(x, x + n);
  a = (hi - lo) / static_cast<float>(qmax);
  b = -lo;
  if (!(a > 0)) {
    a = 0;
    b = std::max(0.0f, -lo);
    return;
  }
  auto error = [&](float sa, float sb) {
    double e = 0;
    for (int i = 0; i < n; ++i) {
      const int q = clamp_round((x[i] + sb) / sa, 0, qmax);
      const double r = static_cast<double>(sa) * q - sb - x[i];
      e += r * r;
    }
    return e;
  };
  double best = error(a, b);
  float ca = a, cb = b;
  for (int it = 0; it < 4; ++it) {
    // Fixed q: minimise Σ (a q_i - b - x_i)², a 2x2 normal system; b is held at 0 when the
    // unconstrained fit wants it negative (the format stores -b·dmin with b ≥ 0).
    double sq = 0, sqq = 0, sx = 0, sqx = 0;
    for (int i = 0; i < n; ++i) {
      const double q = clamp_round((x[i] + cb) / ca, 0, qmax);
      sq += q, sqq += q * q, sx += x[i], sqx += q * x[i];
    }
    const double det = n * sqq - sq * sq;
    if (det <= 0) break;
    double na = (n * sqx - sq * sx) / det;
    double nb = (sq * sqx - sqq * sx) / det;  // b = -(intercept)
    if (nb < 0) nb = 0, na = sqq > 0 ? sqx / sqq : 0;
    if (!(na > 0)) break;
    ca = static_cast<float>(na), cb = static_cast<float>(nb);
    const double e = error(ca, cb);
    if (e < best) best = e, a = ca, b = cb;
  }
}

// Rounds the per-sub-block (a, b) of one super-block to 6-bit multiples of f16 d and dmin.
struct SuperScales {
  float d = 0, dmin = 0;
  int sc[16] = {}, m[16] = {};
};
SuperScales super_scales(const float* a, const float* b, int nsub, int smax) {
  SuperScales s;
  const float amax = *std::max_element(a, a + nsub), bmax = *std::max_element(b, b + nsub);
  s.d = f16_to_float(float_to_f16(amax / static_cast<float>(smax)));
  s.dmin = f16_to_float(float_to_f16(bmax / static_cast<float>(smax)));
  for (int i = 0; i < nsub; ++i) {
    s.sc[i] = s.d > 0 ? clamp_round(a[i] / s.d, 0, smax) : 0;
    s.m[i] = s.dmin > 0 ? clamp_round(b[i] / s.dmin, 0, smax) : 0;
  }
  return s;
}

// The 12 scale bytes of Q4_K/Q5_K, the inverse of the reader's scale_min_k4: pairs 0-3 in the
// low 6 bits of bytes 0-3 (scale) and 4-7 (min); pairs 4-7 as nibbles of bytes 8-11 (scale low,
// min high) with their top 2 bits in bits 6-7 of bytes 0-3 (scale) and 4-7 (min).
void pack_k4_scales(const SuperScales& s, std::byte* q) {
  for (int j = 0; j < 4; ++j) {
    q[j] = static_cast<std::byte>(s.sc[j] | ((s.sc[j + 4] >> 4) << 6));
    q[j + 4] = static_cast<std::byte>(s.m[j] | ((s.m[j + 4] >> 4) << 6));
    q[j + 8] = static_cast<std::byte>((s.sc[j + 4] & 0xF) | ((s.m[j + 4] & 0xF) << 4));
  }
}

// Q4_K (144 B) and Q5_K (176 B): 8 sub-blocks of 32, x = (d·sc)·q - (dmin·m).
void q45_k(const float* x, int64_t nb, std::byte* out, bool five) {
  const int qmax = five ? 31 : 15;
  const int64_t bytes = five ? 176 : 144;
  for (int64_t blk = 0; blk < nb; ++blk, x += 256, out += bytes) {
    float a[8], b[8];
    for (int i = 0; i < 8; ++i) fit_affine(x + 32 * i, 32, qmax, a[i], b[i]);
    const SuperScales s = super_scales(a, b, 8, 63);
    std::memset(out, 0, static_cast<size_t>(bytes));
    put_f16(out, s.d);
    put_f16(out + 2, s.dmin);
    pack_k4_scales(s, out + 4);
    std::byte* qh = out + 16;
    std::byte* qs = out + (five ? 48 : 16);
    for (int i = 0; i < 8; ++i) {
      const float dl = s.d * static_cast<float>(s.sc[i]), ml = s.dmin * static_cast<float>(s.m[i]);
      const int c = i / 2, high = i % 2;  // chunk of 64; low or high nibble half
      for (int l = 0; l < 32; ++l) {
        const int q = dl > 0 ? clamp_round((x[32 * i + l] + ml) / dl, 0, qmax) : 0;
        qs[32 * c + l] |= static_cast<std::byte>((q & 0xF) << (4 * high));
        if (five) qh[l] |= static_cast<std::byte>(((q >> 4) & 1) << i);  // bit 2c + high = i
      }
    }
  }
}

// Q6_K (210 B): 16 sub-blocks of 16, int8 scales of f16 d, q in [-32, 31], x = (d·sc)·q. A
// sub-block's scale is signed so that its largest-magnitude value lands on -32, the end of the
// range with one more step; a least-squares rescale for the chosen q is kept when it is better.
void q6_k(const float* x, int64_t nb, std::byte* out) {
  for (int64_t blk = 0; blk < nb; ++blk, x += 256, out += 210) {
    float a[16];
    for (int i = 0; i < 16; ++i) {
      const float* xs = x + 16 * i;
      float big = 0;
      for (int l = 0; l < 16; ++l)
        if (std::fabs(xs[l]) > std::fabs(big)) big = xs[l];
      a[i] = -big / 32.0f;
      if (a[i] == 0) continue;
      auto err = [&](float s) {
        double e = 0;
        for (int l = 0; l < 16; ++l) {
          const double r = static_cast<double>(s) * clamp_round(xs[l] / s, -32, 31) - xs[l];
          e += r * r;
        }
        return e;
      };
      double sqx = 0, sqq = 0;
      for (int l = 0; l < 16; ++l) {
        const double q = clamp_round(xs[l] / a[i], -32, 31);
        sqx += q * xs[l], sqq += q * q;
      }
      const float ls = sqq > 0 ? static_cast<float>(sqx / sqq) : a[i];
      if (ls != 0 && err(ls) < err(a[i])) a[i] = ls;
    }
    float amax = 0;
    for (float v : a) amax = std::max(amax, std::fabs(v));
    const float d = f16_to_float(float_to_f16(amax / 127.0f));
    std::memset(out, 0, 210);
    std::byte* ql = out;
    std::byte* qh = out + 128;
    std::byte* sc = out + 192;
    put_f16(out + 208, d);
    int sci[16];
    for (int i = 0; i < 16; ++i) {
      sci[i] = d > 0 ? clamp_round(a[i] / d, -128, 127) : 0;
      sc[i] = static_cast<std::byte>(static_cast<int8_t>(sci[i]));
    }
    // Value 128h + 32k + l: low 4 bits in ql[64h + l + 32(k & 1)] (high nibble for k ≥ 2), top
    // 2 bits at 2k of qh[32h + l], scale 8h + 2k + l / 16 (the reader's q6_k).
    for (int v = 0; v < 256; ++v) {
      const int h = v / 128, k = (v % 128) / 32, l = v % 32;
      const float dl = d * static_cast<float>(sci[8 * h + 2 * k + l / 16]);
      const int u = (dl != 0 ? clamp_round(x[v] / dl, -32, 31) : 0) + 32;
      ql[64 * h + l + 32 * (k & 1)] |= static_cast<std::byte>((u & 0xF) << (k >= 2 ? 4 : 0));
      qh[32 * h + l] |= static_cast<std::byte>((u >> 4) << (2 * k));
    }
  }
}

}  // namespace

bool ggml_encodable(uint32_t type) { return ggml_encode_block(type) > 0; }

int64_t ggml_encode_block(uint32_t type) {
  switch (type) {
    case 8: return 32;
    case 12: case 13: case 14: return 256;
    default: return 0;
  }
}

int64_t ggml_encode_block_bytes(uint32_t type) {
  switch (type) {
    case 8: return 34;
    case 12: return 144;
    case 13: return 176;
    case 14: return 210;
    default: return 0;
  }
}

void encode_ggml(uint32_t type, const float* x, int64_t n, std::byte* out) {
  const int64_t block = ggml_encode_block(type);
  if (block == 0 || n % block != 0)
    throw InternalError(fmt::format("encode_ggml: type {} cannot encode {} values", type, n));
  const int64_t nb = n / block;
  switch (type) {
    case 8: q8_0(x, nb, out); return;
    case 12: q45_k(x, nb, out, false); return;
    case 13: q45_k(x, nb, out, true); return;
    case 14: q6_k(x, nb, out); return;
    default: return;
  }
}

uint8_t encode_e2m1(float v) {
  // Magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6 are codes 0-7; a tie goes to the even code.
  const float a = std::fabs(v);
  uint8_t c = a <= 0.25f ? 0 : a < 0.75f ? 1 : a <= 1.25f ? 2 : a < 1.75f ? 3
            : a <= 2.5f ? 4 : a < 3.5f ? 5 : a <= 5.0f ? 6 : 7;
  if (std::signbit(v) && c != 0) c |= 8;
  return c;
}

uint8_t encode_f8_e4m3(float v) {
  if (std::isnan(v)) return 0x7F;
  const uint8_t sign = std::signbit(v) ? 0x80 : 0;
  const float a = std::fabs(v);
  if (a >= 448.0f) return sign | 0x7E;
  if (a < 0.015625f) {  // below 2^-6: subnormal m · 2^-9 (m = 8 is the smallest normal)
    return sign | static_cast<uint8_t>(std::nearbyint(a * 512.0f));
  }
  int e;
  const float f = std::frexp(a, &e);  // a = f · 2^e, f in [0.5, 1)
  int m = static_cast<int>(std::nearbyint((2.0f * f - 1.0f) * 8.0f));
  int ex = e - 1 + 7;
  if (m == 8) m = 0, ++ex;
  const int code = (ex << 3) | m;
  return sign | static_cast<uint8_t>(std::min(code, 0x7E));
}

void encode_mxfp4(const float* x, int64_t n, uint8_t* codes, uint8_t* scales) {
  for (int64_t b = 0; b < n / 32; ++b, x += 32) {
    const float am = absmax(x, 32);
    // The smallest 2^k with am / 2^k ≤ 6: frexp gives am = f · 2^e, f in [0.5, 1).
    int k = 0;
    if (am > 0) {
      int e;
      const float f = std::frexp(am / 6.0f, &e);
      k = f == 0.5f ? e - 1 : e;  // am / 6 exactly a power of two needs no step up
    }
    const int byte = std::clamp(k + 127, 0, 254);
    scales[b] = static_cast<uint8_t>(byte);
    const float scale = std::ldexp(1.0f, byte - 127);
    for (int j = 0; j < 16; ++j)
      codes[16 * b + j] = static_cast<uint8_t>(encode_e2m1(x[2 * j] / scale) |
                                               (encode_e2m1(x[2 * j + 1] / scale) << 4));
  }
}

float nvfp4_global_scale(float am) { return am > 0 ? am / (6.0f * 448.0f) : 1.0f; }

void encode_nvfp4(const float* x, int64_t n, float global, uint8_t* codes, uint8_t* scales) {
  for (int64_t b = 0; b < n / 16; ++b, x += 16) {
    const uint8_t s = encode_f8_e4m3(absmax(x, 16) / 6.0f / global);
    scales[b] = s;
    const float scale = decode_f8_e4m3(s) * global;
    for (int j = 0; j < 8; ++j) {
      const uint8_t lo = scale > 0 ? encode_e2m1(x[2 * j] / scale) : 0;
      const uint8_t hi = scale > 0 ? encode_e2m1(x[2 * j + 1] / scale) : 0;
      codes[8 * b + j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void encode_fp8_blocks(const float* x, int64_t rows, int64_t cols, int64_t br, int64_t bc,
                       uint8_t* codes, float* scale_inv) {
  const int64_t gr = (rows + br - 1) / br, gc = (cols + bc - 1) / bc;
  for (int64_t i = 0; i < gr; ++i)
    for (int64_t j = 0; j < gc; ++j) {
      const int64_t r1 = std::min(rows, (i + 1) * br), c1 = std::min(cols, (j + 1) * bc);
      float am = 0;
      for (int64_t r = i * br; r < r1; ++r)
        for (int64_t c = j * bc; c < c1; ++c) am = std::max(am, std::fabs(x[r * cols + c]));
      const float s = am > 0 ? am / 448.0f : 1.0f;
      scale_inv[i * gc + j] = s;
      for (int64_t r = i * br; r < r1; ++r)
        for (int64_t c = j * bc; c < c1; ++c) codes[r * cols + c] = encode_f8_e4m3(x[r * cols + c] / s);
    }
}

}  // namespace gmha
