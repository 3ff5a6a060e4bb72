// AVX-512 block operations of the decode kernel, compiled for AVX-512 with a target pragma and
// only called after a run-time CPU check, so the binary still runs on CPUs without it. This file
// deliberately uses raw pointers and no standard-library templates: an inline function
// instantiated here would be compiled for AVX-512 and could be picked by the linker for callers
// elsewhere.
//
// Register tiles (32 zmm registers):
//   qk: 6 tokens x 4 head vectors (64 heads) = 24 accumulators; per depth step 4 loads of Q^T
//       and 6 broadcast keys feed 24 FMAs. With a bf16 cache and AVX512-BF16, vdpbf16ps takes
//       two depth steps per instruction (the query is rounded to bf16 too).
//   pv: 6 heads x 4 value vectors (64 columns) = 24 accumulators; per token 4 loads of V and 6
//       broadcast probabilities. Value columns are walked in 64-wide tiles so a tile of V
//       (64 tokens x 64 floats, 16 KiB) stays in L1 across head tiles.
#include "decode_ops.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#define GMHA_HAVE_AVX512_KERNELS 1
#endif

#ifdef GMHA_HAVE_AVX512_KERNELS
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")
// GCC 12's _mm512_undefined_* self-initialise (`__m512 __Y = __Y;`), which -Wmaybe-uninitialized
// reports at every inlined intrinsic; the values are never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace gmha::detail {
namespace {

inline int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

template <int N>
struct Rows {
  static constexpr int value = N;
};

inline __m512 bcast_key(const void* k, bool bf16, int64_t index) {
  if (bf16) {
    const uint32_t bits = static_cast<uint32_t>(static_cast<const uint16_t*>(k)[index]) << 16;
    return _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(bits)));
  }
  return _mm512_set1_ps(static_cast<const float*>(k)[index]);
}

inline __m512 load_values(const void* v, bool bf16, int64_t index, __mmask16 mask) {
  if (bf16) {
    const __m256i raw = _mm256_maskz_loadu_epi16(mask, static_cast<const uint16_t*>(v) + index);
    // maskz forms: the unmasked intrinsics trip GCC 12's -Wmaybe-uninitialized.
    const __m512i wide = _mm512_maskz_cvtepu16_epi32(static_cast<__mmask16>(0xFFFF), raw);
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(static_cast<__mmask16>(0xFFFF), wide, 16));
  }
  return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(v) + index);
}

// 2^x for x <= 0: x = n + f, f in [-0.5, 0.5]; 2^f by its degree-7 Taylor series in f ln 2
// (relative error < 1e-8, below float rounding); scalef applies 2^n. Clamped at -150 so
// exp2(-inf) is exactly 0.
inline __m512 exp2_ps(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-150.0f));
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 t = _mm512_mul_ps(_mm512_sub_ps(x, n), _mm512_set1_ps(0.6931471805599453f));
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// The cache dtype is a template parameter: a run-time branch in the loop makes GCC keep the
// accumulators in memory.
template <int R, int NV, bool BF16>
inline void qk_tile_f32(const float* qt, int64_t hp, const void* k, int64_t k_stride,
                        int64_t depth, float* s, int64_t s_stride) {
  __m512 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t d = 0; d < depth; ++d) {
    __m512 q[NV];
    for (int v = 0; v < NV; ++v) q[v] = _mm512_loadu_ps(qt + d * hp + 16 * v);
    for (int r = 0; r < R; ++r) {
      const __m512 kb = bcast_key(k, BF16, r * k_stride + d);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(kb, q[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(s + r * s_stride + 16 * v, acc[r][v]);
}

// bf16 keys with vdpbf16ps: depth pairs (2i, 2i+1) in one instruction; an odd last depth element
// goes through the float path.
template <int R, int NV>
inline void qk_tile_bf16dp(const QueryPack& q, int64_t h0, const uint16_t* k, int64_t k_stride,
                           int64_t depth, float* s, int64_t s_stride) {
  __m512 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  const int64_t pairs = depth / 2;
  for (int64_t i = 0; i < pairs; ++i) {
    __m512i qv[NV];
    for (int v = 0; v < NV; ++v) qv[v] = _mm512_loadu_si512(q.qt_bf16 + i * q.hp + h0 + 16 * v);
    for (int r = 0; r < R; ++r) {
      uint32_t pair;
      __builtin_memcpy(&pair, k + r * k_stride + 2 * i, 4);
      const __m512i kb = _mm512_set1_epi32(static_cast<int>(pair));
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], (__m512bh)qv[v], (__m512bh)kb);
    }
  }
  if (depth % 2) {
    const int64_t d = depth - 1;
    for (int r = 0; r < R; ++r) {
      const __m512 kb = bcast_key(k, true, r * k_stride + d);
      for (int v = 0; v < NV; ++v) {
        acc[r][v] = _mm512_fmadd_ps(kb, _mm512_loadu_ps(q.qt + d * q.hp + h0 + 16 * v), acc[r][v]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(s + r * s_stride + 16 * v, acc[r][v]);
}


// The full 6 x 4 tiles spelled out with named accumulators: GCC 12 does not keep a 24-element
// __m512 array in registers (it stores it to the stack every iteration, halving the speed).
#define GMHA_ACC4(r) __m512 a##r##0, a##r##1, a##r##2, a##r##3
#define GMHA_FMA4(r, x) \
  a##r##0 = _mm512_fmadd_ps(x, v0, a##r##0); a##r##1 = _mm512_fmadd_ps(x, v1, a##r##1); \
  a##r##2 = _mm512_fmadd_ps(x, v2, a##r##2); a##r##3 = _mm512_fmadd_ps(x, v3, a##r##3)

template <bool BF16>
inline void pv_tile_6x4(const float* s, int64_t s_stride, int64_t h, const void* v, int64_t v_stride,
                        int64_t nb, int64_t w0, const __mmask16* mask, float* o, int64_t o_stride,
                        const float* alpha) {
  GMHA_ACC4(0); GMHA_ACC4(1); GMHA_ACC4(2); GMHA_ACC4(3); GMHA_ACC4(4); GMHA_ACC4(5);
#define GMHA_LOAD_O(r)                                                                          \
  {                                                                                             \
    const __m512 al = _mm512_set1_ps(alpha[h + r]);                                             \
    float* orow = o + (h + r) * o_stride + w0;                                                  \
    a##r##0 = _mm512_mul_ps(al, _mm512_maskz_loadu_ps(mask[0], orow));                          \
    a##r##1 = _mm512_mul_ps(al, _mm512_maskz_loadu_ps(mask[1], orow + 16));                     \
    a##r##2 = _mm512_mul_ps(al, _mm512_maskz_loadu_ps(mask[2], orow + 32));                     \
    a##r##3 = _mm512_mul_ps(al, _mm512_maskz_loadu_ps(mask[3], orow + 48));                     \
  }
  GMHA_LOAD_O(0) GMHA_LOAD_O(1) GMHA_LOAD_O(2) GMHA_LOAD_O(3) GMHA_LOAD_O(4) GMHA_LOAD_O(5)
#undef GMHA_LOAD_O
  const float* sp = s + h;
  for (int64_t j = 0; j < nb; ++j, sp += s_stride) {
    const int64_t base = j * v_stride + w0;
    const __m512 v0 = load_values(v, BF16, base, mask[0]);
    const __m512 v1 = load_values(v, BF16, base + 16, mask[1]);
    const __m512 v2 = load_values(v, BF16, base + 32, mask[2]);
    const __m512 v3 = load_values(v, BF16, base + 48, mask[3]);
    __m512 p;
    p = _mm512_set1_ps(sp[0]); GMHA_FMA4(0, p);
    p = _mm512_set1_ps(sp[1]); GMHA_FMA4(1, p);
    p = _mm512_set1_ps(sp[2]); GMHA_FMA4(2, p);
    p = _mm512_set1_ps(sp[3]); GMHA_FMA4(3, p);
    p = _mm512_set1_ps(sp[4]); GMHA_FMA4(4, p);
    p = _mm512_set1_ps(sp[5]); GMHA_FMA4(5, p);
  }
#define GMHA_STORE_O(r)                                                     \
  {                                                                         \
    float* orow = o + (h + r) * o_stride + w0;                              \
    _mm512_mask_storeu_ps(orow, mask[0], a##r##0);                          \
    _mm512_mask_storeu_ps(orow + 16, mask[1], a##r##1);                     \
    _mm512_mask_storeu_ps(orow + 32, mask[2], a##r##2);                     \
    _mm512_mask_storeu_ps(orow + 48, mask[3], a##r##3);                     \
  }
  GMHA_STORE_O(0) GMHA_STORE_O(1) GMHA_STORE_O(2) GMHA_STORE_O(3) GMHA_STORE_O(4) GMHA_STORE_O(5)
#undef GMHA_STORE_O
}

// QK 6 tokens x 64 heads, float or bf16 keys broadcast one depth element at a time.
template <bool BF16>
inline void qk_tile_6x4(const float* qt, int64_t hp, const void* k, int64_t k_stride, int64_t depth,
                        float* s, int64_t s_stride) {
  GMHA_ACC4(0); GMHA_ACC4(1); GMHA_ACC4(2); GMHA_ACC4(3); GMHA_ACC4(4); GMHA_ACC4(5);
#define GMHA_ZERO(r) a##r##0 = a##r##1 = a##r##2 = a##r##3 = _mm512_setzero_ps();
  GMHA_ZERO(0) GMHA_ZERO(1) GMHA_ZERO(2) GMHA_ZERO(3) GMHA_ZERO(4) GMHA_ZERO(5)
#undef GMHA_ZERO
  const float* qp = qt;
  for (int64_t d = 0; d < depth; ++d, qp += hp) {
    const __m512 v0 = _mm512_loadu_ps(qp), v1 = _mm512_loadu_ps(qp + 16);
    const __m512 v2 = _mm512_loadu_ps(qp + 32), v3 = _mm512_loadu_ps(qp + 48);
    __m512 kb;
    kb = bcast_key(k, BF16, d); GMHA_FMA4(0, kb);
    kb = bcast_key(k, BF16, k_stride + d); GMHA_FMA4(1, kb);
    kb = bcast_key(k, BF16, 2 * k_stride + d); GMHA_FMA4(2, kb);
    kb = bcast_key(k, BF16, 3 * k_stride + d); GMHA_FMA4(3, kb);
    kb = bcast_key(k, BF16, 4 * k_stride + d); GMHA_FMA4(4, kb);
    kb = bcast_key(k, BF16, 5 * k_stride + d); GMHA_FMA4(5, kb);
  }
#define GMHA_STORE_S(r)                                          \
  _mm512_storeu_ps(s + r * s_stride, a##r##0);                   \
  _mm512_storeu_ps(s + r * s_stride + 16, a##r##1);              \
  _mm512_storeu_ps(s + r * s_stride + 32, a##r##2);              \
  _mm512_storeu_ps(s + r * s_stride + 48, a##r##3);
  GMHA_STORE_S(0) GMHA_STORE_S(1) GMHA_STORE_S(2) GMHA_STORE_S(3) GMHA_STORE_S(4) GMHA_STORE_S(5)
#undef GMHA_STORE_S
}

// bf16 keys with vdpbf16ps, 6 tokens x 64 heads: two depth elements per instruction.
inline void qk_tile_6x4_dp(const QueryPack& q, int64_t h0, const uint16_t* k, int64_t k_stride, int64_t depth,
                           float* s, int64_t s_stride) {
  GMHA_ACC4(0); GMHA_ACC4(1); GMHA_ACC4(2); GMHA_ACC4(3); GMHA_ACC4(4); GMHA_ACC4(5);
#define GMHA_ZERO(r) a##r##0 = a##r##1 = a##r##2 = a##r##3 = _mm512_setzero_ps();
  GMHA_ZERO(0) GMHA_ZERO(1) GMHA_ZERO(2) GMHA_ZERO(3) GMHA_ZERO(4) GMHA_ZERO(5)
#undef GMHA_ZERO
#define GMHA_DP4(r)                                                                  \
  {                                                                                  \
    uint32_t pair;                                                                   \
    __builtin_memcpy(&pair, k + r * k_stride + 2 * i, 4);                            \
    const __m512bh kb = (__m512bh)_mm512_set1_epi32(static_cast<int>(pair));         \
    a##r##0 = _mm512_dpbf16_ps(a##r##0, q0, kb);                                     \
    a##r##1 = _mm512_dpbf16_ps(a##r##1, q1, kb);                                     \
    a##r##2 = _mm512_dpbf16_ps(a##r##2, q2, kb);                                     \
    a##r##3 = _mm512_dpbf16_ps(a##r##3, q3, kb);                                     \
  }
  const int64_t pairs = depth / 2;
  for (int64_t i = 0; i < pairs; ++i) {
    const uint32_t* qp = q.qt_bf16 + i * q.hp + h0;
    const __m512bh q0 = (__m512bh)_mm512_loadu_si512(qp), q1 = (__m512bh)_mm512_loadu_si512(qp + 16);
    const __m512bh q2 = (__m512bh)_mm512_loadu_si512(qp + 32), q3 = (__m512bh)_mm512_loadu_si512(qp + 48);
    GMHA_DP4(0) GMHA_DP4(1) GMHA_DP4(2) GMHA_DP4(3) GMHA_DP4(4) GMHA_DP4(5)
  }
#undef GMHA_DP4
  if (depth % 2) {
    const int64_t d = depth - 1;
    const float* qp = q.qt + d * q.hp + h0;
    const __m512 v0 = _mm512_loadu_ps(qp), v1 = _mm512_loadu_ps(qp + 16);
    const __m512 v2 = _mm512_loadu_ps(qp + 32), v3 = _mm512_loadu_ps(qp + 48);
    __m512 kb;
    kb = bcast_key(k, true, d); GMHA_FMA4(0, kb);
    kb = bcast_key(k, true, k_stride + d); GMHA_FMA4(1, kb);
    kb = bcast_key(k, true, 2 * k_stride + d); GMHA_FMA4(2, kb);
    kb = bcast_key(k, true, 3 * k_stride + d); GMHA_FMA4(3, kb);
    kb = bcast_key(k, true, 4 * k_stride + d); GMHA_FMA4(4, kb);
    kb = bcast_key(k, true, 5 * k_stride + d); GMHA_FMA4(5, kb);
  }
#define GMHA_STORE_S(r)                                          \
  _mm512_storeu_ps(s + r * s_stride, a##r##0);                   \
  _mm512_storeu_ps(s + r * s_stride + 16, a##r##1);              \
  _mm512_storeu_ps(s + r * s_stride + 32, a##r##2);              \
  _mm512_storeu_ps(s + r * s_stride + 48, a##r##3);
  GMHA_STORE_S(0) GMHA_STORE_S(1) GMHA_STORE_S(2) GMHA_STORE_S(3) GMHA_STORE_S(4) GMHA_STORE_S(5)
#undef GMHA_STORE_S
}
#undef GMHA_FMA4
#undef GMHA_ACC4

template <int NV, bool DP, bool BF16>
void qk_rows(const QueryPack& q, int64_t h0, const void* k, int64_t k_stride, int64_t nb,
             int64_t depth, float* s, int64_t s_stride) {
  // Taller tiles when fewer head vectors leave registers free.
  constexpr int R = NV == 1 ? 12 : NV == 2 ? 8 : 6;
  auto tile = [&](auto rows, int64_t j) {
    constexpr int RR = decltype(rows)::value;
    if constexpr (RR == 6 && NV == 4 && DP) {
      qk_tile_6x4_dp(q, h0, static_cast<const uint16_t*>(k) + j * k_stride, k_stride, depth, s + j * s_stride + h0, s_stride);
    } else if constexpr (RR == 6 && NV == 4) {
      const void* kj = BF16 ? static_cast<const void*>(static_cast<const uint16_t*>(k) + j * k_stride)
                            : static_cast<const void*>(static_cast<const float*>(k) + j * k_stride);
      qk_tile_6x4<BF16>(q.qt + h0, q.hp, kj, k_stride, depth, s + j * s_stride + h0, s_stride);
    } else if constexpr (DP) {
      qk_tile_bf16dp<RR, NV>(q, h0, static_cast<const uint16_t*>(k) + j * k_stride, k_stride, depth,
                             s + j * s_stride + h0, s_stride);
    } else {
      const void* kj = BF16 ? static_cast<const void*>(static_cast<const uint16_t*>(k) + j * k_stride)
                            : static_cast<const void*>(static_cast<const float*>(k) + j * k_stride);
      qk_tile_f32<RR, NV, BF16>(q.qt + h0, q.hp, kj, k_stride, depth, s + j * s_stride + h0, s_stride);
    }
  };
  int64_t j = 0;
  for (; j + R <= nb; j += R) tile(Rows<R>{}, j);
  for (; j < nb; ++j) tile(Rows<1>{}, j);
}

template <int NV>
void qk_nv(bool dp, bool k_bf16, const QueryPack& q, int64_t h0, const void* k, int64_t k_stride, int64_t nb,
           int64_t depth, float* s, int64_t s_stride) {
  if (dp) return qk_rows<NV, true, true>(q, h0, k, k_stride, nb, depth, s, s_stride);
  if (k_bf16) return qk_rows<NV, false, true>(q, h0, k, k_stride, nb, depth, s, s_stride);
  qk_rows<NV, false, false>(q, h0, k, k_stride, nb, depth, s, s_stride);
}

template <bool DP>
void qk(const QueryPack& q, int64_t h0, int64_t nh, const void* k, bool k_bf16, int64_t k_stride,
        int64_t nb, int64_t depth, float* s, int64_t s_stride, PrefetchCursor*) {
  const bool dp = DP && k_bf16;
  switch (round16(nh) / 16) {
    case 1: return qk_nv<1>(dp, k_bf16, q, h0, k, k_stride, nb, depth, s, s_stride);
    case 2: return qk_nv<2>(dp, k_bf16, q, h0, k, k_stride, nb, depth, s, s_stride);
    case 3: return qk_nv<3>(dp, k_bf16, q, h0, k, k_stride, nb, depth, s, s_stride);
    default: return qk_nv<4>(dp, k_bf16, q, h0, k, k_stride, nb, depth, s, s_stride);
  }
}

void softmax(float* s, int64_t s_stride, int64_t h0, int64_t nh16, int64_t nb, float* m, float* l,
             float* alpha) {
  for (int64_t h = h0; h < h0 + nh16; h += 16) {
    __m512 bm = _mm512_set1_ps(-__builtin_inff());
    for (int64_t j = 0; j < nb; ++j) bm = _mm512_max_ps(bm, _mm512_loadu_ps(s + j * s_stride + h));
    const __m512 mo = _mm512_loadu_ps(m + h);
    const __m512 mn = _mm512_max_ps(mo, bm);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < nb; ++j) {
      const __m512 p = exp2_ps(_mm512_sub_ps(_mm512_loadu_ps(s + j * s_stride + h), mn));
      _mm512_storeu_ps(s + j * s_stride + h, p);
      sum = _mm512_add_ps(sum, p);
    }
    const __m512 a = exp2_ps(_mm512_sub_ps(mo, mn));
    _mm512_storeu_ps(alpha + h, a);
    _mm512_storeu_ps(l + h, _mm512_fmadd_ps(_mm512_loadu_ps(l + h), a, sum));
    _mm512_storeu_ps(m + h, mn);
  }
}

template <int RH, int NW, bool BF16>
inline void pv_tile(const float* s, int64_t s_stride, int64_t h, const void* v,
                    int64_t v_stride, int64_t nb, int64_t w0, const __mmask16* mask, float* o,
                    int64_t o_stride, const float* alpha) {
  __m512 acc[RH][NW];
  for (int r = 0; r < RH; ++r) {
    const __m512 a = _mm512_set1_ps(alpha[h + r]);
    for (int w = 0; w < NW; ++w) {
      acc[r][w] = _mm512_mul_ps(a, _mm512_maskz_loadu_ps(mask[w], o + (h + r) * o_stride + w0 + 16 * w));
    }
  }
  for (int64_t j = 0; j < nb; ++j) {
    __m512 vv[NW];
    for (int w = 0; w < NW; ++w) vv[w] = load_values(v, BF16, j * v_stride + w0 + 16 * w, mask[w]);
    for (int r = 0; r < RH; ++r) {
      const __m512 p = _mm512_set1_ps(s[j * s_stride + h + r]);
      for (int w = 0; w < NW; ++w) acc[r][w] = _mm512_fmadd_ps(p, vv[w], acc[r][w]);
    }
  }
  for (int r = 0; r < RH; ++r)
    for (int w = 0; w < NW; ++w) _mm512_mask_storeu_ps(o + (h + r) * o_stride + w0 + 16 * w, mask[w], acc[r][w]);
}

template <int NW, bool BF16>
void pv_heads(const float* s, int64_t s_stride, int64_t h0, int64_t nh, const void* v,
              int64_t v_stride, int64_t nb, int64_t w0, const __mmask16* mask, float* o, int64_t o_stride,
              const float* alpha) {
  int64_t h = h0;
  for (; h + 6 <= h0 + nh; h += 6) {
    if constexpr (NW == 4) {
      pv_tile_6x4<BF16>(s, s_stride, h, v, v_stride, nb, w0, mask, o, o_stride, alpha);
    } else {
      pv_tile<6, NW, BF16>(s, s_stride, h, v, v_stride, nb, w0, mask, o, o_stride, alpha);
    }
  }
  for (; h + 2 <= h0 + nh; h += 2) pv_tile<2, NW, BF16>(s, s_stride, h, v, v_stride, nb, w0, mask, o, o_stride, alpha);
  for (; h < h0 + nh; ++h) pv_tile<1, NW, BF16>(s, s_stride, h, v, v_stride, nb, w0, mask, o, o_stride, alpha);
}

void pv(const float* s, int64_t s_stride, int64_t h0, int64_t nh, const void* v, bool v_bf16,
        int64_t v_stride, int64_t nb, int64_t vw, float* o, int64_t o_stride, const float* alpha,
        PrefetchCursor*) {
  for (int64_t w0 = 0; w0 < vw; w0 += 64) {
    const int64_t width = vw - w0 < 64 ? vw - w0 : 64;
    __mmask16 mask[4];
    for (int w = 0; w < 4; ++w) {
      const int64_t left = width - 16 * w;
      mask[w] = left >= 16 ? static_cast<__mmask16>(0xFFFF)
                           : left <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << left) - 1);
    }
    switch ((width + 15) / 16) {
      case 1: (v_bf16 ? pv_heads<1, true> : pv_heads<1, false>)(s, s_stride, h0, nh, v, v_stride, nb, w0, mask, o, o_stride, alpha); break;
      case 2: (v_bf16 ? pv_heads<2, true> : pv_heads<2, false>)(s, s_stride, h0, nh, v, v_stride, nb, w0, mask, o, o_stride, alpha); break;
      case 3: (v_bf16 ? pv_heads<3, true> : pv_heads<3, false>)(s, s_stride, h0, nh, v, v_stride, nb, w0, mask, o, o_stride, alpha); break;
      default: (v_bf16 ? pv_heads<4, true> : pv_heads<4, false>)(s, s_stride, h0, nh, v, v_stride, nb, w0, mask, o, o_stride, alpha); break;
    }
  }
}

const BlockOps kOps{qk<false>, softmax, pv, false, false, kWidenMinHeads, kWidenMinHeads};
const BlockOps kOpsDp{qk<true>, softmax, pv, true, false, kWidenMinHeads, kWidenMinHeads};

}  // namespace

const BlockOps* avx512_block_ops(bool bf16_dot) {
  if (!cpu_has_avx512()) return nullptr;
  if (bf16_dot && cpu_has_avx512_bf16()) return &kOpsDp;
  return &kOps;
}

}  // namespace gmha::detail
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

namespace gmha::detail {

#ifdef GMHA_HAVE_AVX512_KERNELS
bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
bool cpu_has_avx512_bf16() { return cpu_has_avx512() && __builtin_cpu_supports("avx512bf16"); }
#else
bool cpu_has_avx512() { return false; }
bool cpu_has_avx512_bf16() { return false; }
const BlockOps* avx512_block_ops(bool) { return nullptr; }
#endif

}  // namespace gmha::detail
