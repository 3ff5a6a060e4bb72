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

template <int R, int NV>
inline void qk_tile_f32(const float* qt, int64_t hp, const void* k, bool k_bf16, int64_t k_stride,
                        int64_t depth, float* s, int64_t s_stride) {
  __m512 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t d = 0; d < depth; ++d) {
    __m512 q[NV];
    for (int v = 0; v < NV; ++v) q[v] = _mm512_loadu_ps(qt + d * hp + 16 * v);
    for (int r = 0; r < R; ++r) {
      const __m512 kb = bcast_key(k, k_bf16, r * k_stride + d);
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

template <int NV, bool DP>
void qk_rows(const QueryPack& q, int64_t h0, const void* k, bool k_bf16, int64_t k_stride, int64_t nb,
             int64_t depth, float* s, int64_t s_stride) {
  // Taller tiles when fewer head vectors leave registers free.
  constexpr int R = NV == 1 ? 12 : NV == 2 ? 8 : 6;
  auto tile = [&](auto rows, int64_t j) {
    constexpr int RR = decltype(rows)::value;
    if constexpr (DP) {
      qk_tile_bf16dp<RR, NV>(q, h0, static_cast<const uint16_t*>(k) + j * k_stride, k_stride, depth,
                             s + j * s_stride + h0, s_stride);
    } else {
      const void* kj = k_bf16 ? static_cast<const void*>(static_cast<const uint16_t*>(k) + j * k_stride)
                              : static_cast<const void*>(static_cast<const float*>(k) + j * k_stride);
      qk_tile_f32<RR, NV>(q.qt + h0, q.hp, kj, k_bf16, k_stride, depth, s + j * s_stride + h0, s_stride);
    }
  };
  int64_t j = 0;
  for (; j + R <= nb; j += R) tile(Rows<R>{}, j);
  for (; j < nb; ++j) tile(Rows<1>{}, j);
}

template <bool DP>
void qk(const QueryPack& q, int64_t h0, int64_t nh, const void* k, bool k_bf16, int64_t k_stride,
        int64_t nb, int64_t depth, float* s, int64_t s_stride) {
  const bool dp = DP && k_bf16;
  switch (round16(nh) / 16) {
    case 1: return dp ? qk_rows<1, true>(q, h0, k, true, k_stride, nb, depth, s, s_stride)
                      : qk_rows<1, false>(q, h0, k, k_bf16, k_stride, nb, depth, s, s_stride);
    case 2: return dp ? qk_rows<2, true>(q, h0, k, true, k_stride, nb, depth, s, s_stride)
                      : qk_rows<2, false>(q, h0, k, k_bf16, k_stride, nb, depth, s, s_stride);
    case 3: return dp ? qk_rows<3, true>(q, h0, k, true, k_stride, nb, depth, s, s_stride)
                      : qk_rows<3, false>(q, h0, k, k_bf16, k_stride, nb, depth, s, s_stride);
    default: return dp ? qk_rows<4, true>(q, h0, k, true, k_stride, nb, depth, s, s_stride)
                       : qk_rows<4, false>(q, h0, k, k_bf16, k_stride, nb, depth, s, s_stride);
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

template <int RH, int NW>
inline void pv_tile(const float* s, int64_t s_stride, int64_t h, const void* v, bool v_bf16,
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
    for (int w = 0; w < NW; ++w) vv[w] = load_values(v, v_bf16, j * v_stride + w0 + 16 * w, mask[w]);
    for (int r = 0; r < RH; ++r) {
      const __m512 p = _mm512_set1_ps(s[j * s_stride + h + r]);
      for (int w = 0; w < NW; ++w) acc[r][w] = _mm512_fmadd_ps(p, vv[w], acc[r][w]);
    }
  }
  for (int r = 0; r < RH; ++r)
    for (int w = 0; w < NW; ++w) _mm512_mask_storeu_ps(o + (h + r) * o_stride + w0 + 16 * w, mask[w], acc[r][w]);
}

template <int NW>
void pv_heads(const float* s, int64_t s_stride, int64_t h0, int64_t nh, const void* v, bool v_bf16,
              int64_t v_stride, int64_t nb, int64_t w0, const __mmask16* mask, float* o, int64_t o_stride,
              const float* alpha) {
  int64_t h = h0;
  for (; h + 6 <= h0 + nh; h += 6) pv_tile<6, NW>(s, s_stride, h, v, v_bf16, v_stride, nb, w0, mask, o, o_stride, alpha);
  for (; h + 2 <= h0 + nh; h += 2) pv_tile<2, NW>(s, s_stride, h, v, v_bf16, v_stride, nb, w0, mask, o, o_stride, alpha);
  for (; h < h0 + nh; ++h) pv_tile<1, NW>(s, s_stride, h, v, v_bf16, v_stride, nb, w0, mask, o, o_stride, alpha);
}

void pv(const float* s, int64_t s_stride, int64_t h0, int64_t nh, const void* v, bool v_bf16,
        int64_t v_stride, int64_t nb, int64_t vw, float* o, int64_t o_stride, const float* alpha) {
  for (int64_t w0 = 0; w0 < vw; w0 += 64) {
    const int64_t width = vw - w0 < 64 ? vw - w0 : 64;
    __mmask16 mask[4];
    for (int w = 0; w < 4; ++w) {
      const int64_t left = width - 16 * w;
      mask[w] = left >= 16 ? static_cast<__mmask16>(0xFFFF)
                           : left <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << left) - 1);
    }
    switch ((width + 15) / 16) {
      case 1: pv_heads<1>(s, s_stride, h0, nh, v, v_bf16, v_stride, nb, w0, mask, o, o_stride, alpha); break;
      case 2: pv_heads<2>(s, s_stride, h0, nh, v, v_bf16, v_stride, nb, w0, mask, o, o_stride, alpha); break;
      case 3: pv_heads<3>(s, s_stride, h0, nh, v, v_bf16, v_stride, nb, w0, mask, o, o_stride, alpha); break;
      default: pv_heads<4>(s, s_stride, h0, nh, v, v_bf16, v_stride, nb, w0, mask, o, o_stride, alpha); break;
    }
  }
}

const BlockOps kOps{qk<false>, softmax, pv, false};
const BlockOps kOpsDp{qk<true>, softmax, pv, true};

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
