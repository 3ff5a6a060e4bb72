// AVX2 + FMA block operations of the decode kernel, for x86-64 CPUs without AVX-512 (AMD Zen 2-4
// servers and desktops, Intel Haswell to Alder Lake). Compiled for AVX2 with a target pragma and
// only called after a run-time CPU check, so the binary still runs on a baseline x86-64 CPU. As in
// decode_avx512.cpp: raw pointers only, no standard-library templates (an inline function
// instantiated here would be compiled for AVX2 and could be picked by the linker elsewhere).
//
// Register tiles (16 ymm registers, 8 floats each):
//   qk: 6 tokens x 16 heads (2 vectors) = 12 accumulators; per depth step 2 loads of Q^T and 6
//       broadcast keys feed 12 FMAs. Heads are walked in slices of 16, each slice of Q^T stored
//       contiguous (QueryPack::qt16: depth x 16 floats, 16 KiB at depth 256) so that it stays in
//       L1 while the block's keys stream from L2. Streams with <= 8 query heads (GQA) use 12
//       tokens x 1 vector instead.
//   pv: 6 heads x 16 value columns (2 vectors) = 12 accumulators (4 x 16 for 4-head groups); per
//       token 2 loads of V and 6 broadcast probabilities. Value columns are walked in 16-wide
//       tiles, each packed to a contiguous [48][16] float tile (3 KiB, bf16 widened on the way)
//       that stays in L1 across the head tiles.
// bf16 keys are widened in the broadcast (shift into the high half of a float); decode.cpp widens
// the keys of compute-bound streams once per block and stages strided (GQA) key rows contiguous.
// While a block computes, the tiles prefetch the next block's rows (PrefetchCursor).
#include "decode_ops.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#define GMHA_HAVE_AVX2_KERNELS 1
#endif

#ifdef GMHA_HAVE_AVX2_KERNELS
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace gmha::detail {
namespace {

inline int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

inline __m256 bcast_key(const void* k, bool bf16, int64_t index) {
  if (bf16) {
    const uint32_t bits = static_cast<uint32_t>(static_cast<const uint16_t*>(k)[index]) << 16;
    return _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(bits)));
  }
  return _mm256_broadcast_ss(static_cast<const float*>(k) + index);
}

// Lanes [0, count) set, for maskload / maskstore of a partial vector (count in 1..8).
inline __m256i lane_mask(int64_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// 8 values from v + index; with `count` < 8 only lanes [0, count) are read (the rest are 0).
inline __m256 load_values(const void* v, bool bf16, int64_t index, int64_t count) {
  if (bf16) {
    const uint16_t* src = static_cast<const uint16_t*>(v) + index;
    __m128i raw;
    if (count >= 8) {
      raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
    } else {
      uint16_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t i = 0; i < count; ++i) tmp[i] = src[i];
      raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(tmp));
    }
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
  }
  const float* src = static_cast<const float*>(v) + index;
  return count >= 8 ? _mm256_loadu_ps(src) : _mm256_maskload_ps(src, lane_mask(count));
}

inline __m256 load_o(const float* p, int64_t count) {
  return count >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lane_mask(count));
}

inline void store_o(float* p, int64_t count, __m256 x) {
  if (count >= 8) {
    _mm256_storeu_ps(p, x);
  } else {
    _mm256_maskstore_ps(p, lane_mask(count), x);
  }
}

// 2^x for x <= 0: x = n + f, f in [-0.5, 0.5]; 2^f by its degree-7 Taylor series in f ln 2
// (relative error < 1e-8, below float rounding); 2^n is built in the exponent field. Clamped at
// -127, where the biased exponent is 0 and 2^n is exactly 0, so exp2(-inf) = 0 (values below
// 2^-126, subnormal, are flushed to 0: they cannot change a float sum that holds a 1).
inline __m256 exp2_ps(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-127.0f));
  const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 t = _mm256_mul_ps(_mm256_sub_ps(x, n), _mm256_set1_ps(0.6931471805599453f));
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.0f / 720));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.0f));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// Issues up to n prefetches (into L2) of the next block's lines; a no-op once they are all issued.
inline void prefetch_lines(PrefetchCursor* pf, int64_t n) {
  if (!pf) return;
  while (n > 0 && pf->current < 2) {
    const PrefetchCursor::Range& r = pf->range[pf->current];
    if (pf->row >= r.rows) {
      ++pf->current;
      pf->row = pf->offset = 0;
      continue;
    }
    const char* begin = r.base + pf->row * r.stride;
    const char* line =
        reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(begin) & ~uintptr_t{63});
    _mm_prefetch(line + pf->offset, _MM_HINT_T1);
    --n;
    pf->offset += 64;
    if (line + pf->offset >= begin + r.bytes) {
      pf->offset = 0;
      ++pf->row;
    }
  }
}

inline const void* key_row(const void* k, bool bf16, int64_t offset) {
  return bf16 ? static_cast<const void*>(static_cast<const uint16_t*>(k) + offset)
              : static_cast<const void*>(static_cast<const float*>(k) + offset);
}

// The full tiles spelled out with named accumulators (GCC 12 spills accumulator arrays of this
// size to the stack inside the depth loop; see decode_avx512.cpp).
#define GMHA_ACC2(r) __m256 a##r##0 = _mm256_setzero_ps(), a##r##1 = _mm256_setzero_ps()
#define GMHA_FMA2(r, x)                      \
  a##r##0 = _mm256_fmadd_ps(x, v0, a##r##0); \
  a##r##1 = _mm256_fmadd_ps(x, v1, a##r##1)

// QK 6 tokens x 16 heads: S[r][0..16) = sum_d K[r][d] Q^T[d][0..16).
template <bool BF16>
inline void qk_tile_6x2(const float* qt, int64_t hp, const void* k, int64_t k_stride, int64_t depth,
                        float* s, int64_t s_stride) {
  GMHA_ACC2(0);
  GMHA_ACC2(1);
  GMHA_ACC2(2);
  GMHA_ACC2(3);
  GMHA_ACC2(4);
  GMHA_ACC2(5);
  const float* qp = qt;
  for (int64_t d = 0; d < depth; ++d, qp += hp) {
    const __m256 v0 = _mm256_loadu_ps(qp), v1 = _mm256_loadu_ps(qp + 8);
    __m256 kb;
    kb = bcast_key(k, BF16, d);
    GMHA_FMA2(0, kb);
    kb = bcast_key(k, BF16, k_stride + d);
    GMHA_FMA2(1, kb);
    kb = bcast_key(k, BF16, 2 * k_stride + d);
    GMHA_FMA2(2, kb);
    kb = bcast_key(k, BF16, 3 * k_stride + d);
    GMHA_FMA2(3, kb);
    kb = bcast_key(k, BF16, 4 * k_stride + d);
    GMHA_FMA2(4, kb);
    kb = bcast_key(k, BF16, 5 * k_stride + d);
    GMHA_FMA2(5, kb);
  }
#define GMHA_STORE_S(r)                        \
  _mm256_storeu_ps(s + r * s_stride, a##r##0); \
  _mm256_storeu_ps(s + r * s_stride + 8, a##r##1);
  GMHA_STORE_S(0) GMHA_STORE_S(1) GMHA_STORE_S(2) GMHA_STORE_S(3) GMHA_STORE_S(4) GMHA_STORE_S(5)
#undef GMHA_STORE_S
}

// QK 12 tokens x one head vector (<= 8 heads). Lanes 8..16 of each S row are zeroed so softmax
// never reads stale values in padded heads.
template <bool BF16>
inline void qk_tile_12x1(const float* qt, int64_t hp, const void* k, int64_t k_stride,
                         int64_t depth, float* s, int64_t s_stride, PrefetchCursor* pf) {
#define GMHA_ACC1(r) __m256 a##r = _mm256_setzero_ps()
  GMHA_ACC1(0);
  GMHA_ACC1(1);
  GMHA_ACC1(2);
  GMHA_ACC1(3);
  GMHA_ACC1(4);
  GMHA_ACC1(5);
  GMHA_ACC1(6);
  GMHA_ACC1(7);
  GMHA_ACC1(8);
  GMHA_ACC1(9);
  GMHA_ACC1(10);
  GMHA_ACC1(11);
#undef GMHA_ACC1
  const float* qp = qt;
  for (int64_t d = 0; d < depth; ++d, qp += hp) {
    // One prefetch of the next block per depth step: this tile is memory-bound, and a burst per
    // tile stalled on the miss buffers with the FMAs waiting behind it.
    prefetch_lines(pf, 1);
    const __m256 q0 = _mm256_loadu_ps(qp);
#define GMHA_FMA1(r) a##r = _mm256_fmadd_ps(bcast_key(k, BF16, r * k_stride + d), q0, a##r)
    GMHA_FMA1(0);
    GMHA_FMA1(1);
    GMHA_FMA1(2);
    GMHA_FMA1(3);
    GMHA_FMA1(4);
    GMHA_FMA1(5);
    GMHA_FMA1(6);
    GMHA_FMA1(7);
    GMHA_FMA1(8);
    GMHA_FMA1(9);
    GMHA_FMA1(10);
    GMHA_FMA1(11);
#undef GMHA_FMA1
  }
  const __m256 zero = _mm256_setzero_ps();
#define GMHA_STORE1(r)                      \
  _mm256_storeu_ps(s + r * s_stride, a##r); \
  _mm256_storeu_ps(s + r * s_stride + 8, zero)
  GMHA_STORE1(0);
  GMHA_STORE1(1);
  GMHA_STORE1(2);
  GMHA_STORE1(3);
  GMHA_STORE1(4);
  GMHA_STORE1(5);
  GMHA_STORE1(6);
  GMHA_STORE1(7);
  GMHA_STORE1(8);
  GMHA_STORE1(9);
  GMHA_STORE1(10);
  GMHA_STORE1(11);
#undef GMHA_STORE1
}

// QK with one head vector, R (few) tokens: the block tail.
template <int R, bool BF16>
inline void qk_tile_rx1(const float* qt, int64_t hp, const void* k, int64_t k_stride, int64_t depth,
                        float* s, int64_t s_stride) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  const float* qp = qt;
  for (int64_t d = 0; d < depth; ++d, qp += hp) {
    const __m256 q0 = _mm256_loadu_ps(qp);
    for (int r = 0; r < R; ++r)
      acc[r] = _mm256_fmadd_ps(bcast_key(k, BF16, r * k_stride + d), q0, acc[r]);
  }
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(s + r * s_stride, acc[r]);
    _mm256_storeu_ps(s + r * s_stride + 8, _mm256_setzero_ps());
  }
}

// QK one token x 16 heads (block tails).
template <bool BF16>
inline void qk_tile_1x2(const float* qt, int64_t hp, const void* k, int64_t depth, float* s) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  const float* qp = qt;
  for (int64_t d = 0; d < depth; ++d, qp += hp) {
    const __m256 kb = bcast_key(k, BF16, d);
    a0 = _mm256_fmadd_ps(kb, _mm256_loadu_ps(qp), a0);
    a1 = _mm256_fmadd_ps(kb, _mm256_loadu_ps(qp + 8), a1);
  }
  _mm256_storeu_ps(s, a0);
  _mm256_storeu_ps(s + 8, a1);
}

// Heads [h0, h0 + round16(nh)) in slices of 16, each slice's Q^T contiguous (q.qt16, rows of 16).
// Each tile call also issues depth / 8 (6-token tiles) or depth (12-token tiles of <= 8 heads:
// memory-bound, little compute to hide the next block's misses behind) prefetches of the next
// block.
template <bool BF16>
void qk_heads(const QueryPack& q, int64_t h0, int64_t nh, const void* k, int64_t k_stride,
              int64_t nb, int64_t depth, float* s, int64_t s_stride, PrefetchCursor* pf) {
  if (nh <= 8) {
    const float* qt = q.qt16 + h0 * depth;
    int64_t j = 0;
    for (; j + 12 <= nb; j += 12) {
      qk_tile_12x1<BF16>(qt, 16, key_row(k, BF16, j * k_stride), k_stride, depth,
                         s + j * s_stride + h0, s_stride, pf);
    }
    for (; j < nb; ++j) {
      qk_tile_rx1<1, BF16>(qt, 16, key_row(k, BF16, j * k_stride), k_stride, depth,
                           s + j * s_stride + h0, s_stride);
    }
    return;
  }
  for (int64_t hs = h0; hs < h0 + round16(nh); hs += 16) {
    const float* qt = q.qt16 + hs * depth;
    int64_t j = 0;
    for (; j + 6 <= nb; j += 6) {
      prefetch_lines(pf, depth / 8);
      qk_tile_6x2<BF16>(qt, 16, key_row(k, BF16, j * k_stride), k_stride, depth,
                        s + j * s_stride + hs, s_stride);
    }
    for (; j < nb; ++j)
      qk_tile_1x2<BF16>(qt, 16, key_row(k, BF16, j * k_stride), depth, s + j * s_stride + hs);
  }
}

void qk(const QueryPack& q, int64_t h0, int64_t nh, const void* k, bool k_bf16, int64_t k_stride,
        int64_t nb, int64_t depth, float* s, int64_t s_stride, PrefetchCursor* pf) {
  if (k_bf16) {
    qk_heads<true>(q, h0, nh, k, k_stride, nb, depth, s, s_stride, pf);
  } else {
    qk_heads<false>(q, h0, nh, k, k_stride, nb, depth, s, s_stride, pf);
  }
}

void softmax(float* s, int64_t s_stride, int64_t h0, int64_t nh16, int64_t nb, float* m, float* l,
             float* alpha) {
  for (int64_t h = h0; h < h0 + nh16; h += 8) {
    __m256 bm = _mm256_set1_ps(-__builtin_inff());
    for (int64_t j = 0; j < nb; ++j) bm = _mm256_max_ps(bm, _mm256_loadu_ps(s + j * s_stride + h));
    const __m256 mo = _mm256_loadu_ps(m + h);
    const __m256 mn = _mm256_max_ps(mo, bm);
    __m256 sum = _mm256_setzero_ps();
    for (int64_t j = 0; j < nb; ++j) {
      const __m256 p = exp2_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j * s_stride + h), mn));
      _mm256_storeu_ps(s + j * s_stride + h, p);
      sum = _mm256_add_ps(sum, p);
    }
    const __m256 a = exp2_ps(_mm256_sub_ps(mo, mn));
    _mm256_storeu_ps(alpha + h, a);
    _mm256_storeu_ps(l + h, _mm256_fmadd_ps(_mm256_loadu_ps(l + h), a, sum));
    _mm256_storeu_ps(m + h, mn);
  }
}

// PV RH (6 or 4: GQA's common 4 heads per group) heads x 16 value columns:
// O[h + r][w0 .. w0 + width) = O * alpha + sum_j P[j][h + r] V[j], V a packed tile [nb][16] (zero
// beyond `width`); O is read and written for `width` columns only. Rows 4 and 5 are compiled
// out for RH = 4 (their accumulators stay zero and are never stored).
template <int RH>
inline void pv_tile_x2(const float* s, int64_t s_stride, int64_t h, const float* vt, int64_t nb,
                       int64_t w0, int64_t width, float* o, int64_t o_stride, const float* alpha,
                       PrefetchCursor* pf) {
  static_assert(RH == 4 || RH == 6, "named-accumulator PV tiles have 4 or 6 heads");
  const int64_t c0 = width < 8 ? width : 8, c1 = width - c0;  // valid lanes per vector
#define GMHA_LOAD_O(r)                                                                    \
  [[maybe_unused]] __m256 a##r##0 = _mm256_setzero_ps(), a##r##1 = _mm256_setzero_ps();   \
  if (r < RH) {                                                                           \
    const __m256 al = _mm256_set1_ps(alpha[h + r]);                                       \
    a##r##0 = _mm256_mul_ps(al, load_o(o + (h + r) * o_stride + w0, c0));                 \
    if (c1 > 0) a##r##1 = _mm256_mul_ps(al, load_o(o + (h + r) * o_stride + w0 + 8, c1)); \
  }
  GMHA_LOAD_O(0)
  GMHA_LOAD_O(1) GMHA_LOAD_O(2) GMHA_LOAD_O(3) GMHA_LOAD_O(4) GMHA_LOAD_O(5)
#undef GMHA_LOAD_O
      const float* sp = s + h;
  const float* vp = vt;
  for (int64_t j = 0; j < nb; ++j, sp += s_stride, vp += 16) {
    // 4-head tiles (GQA) are memory-bound: one prefetch of the next block per token, spread out
    // (6-head tiles get a short burst per tile from pv instead).
    if constexpr (RH == 4) prefetch_lines(pf, 1);
    const __m256 v0 = _mm256_loadu_ps(vp), v1 = _mm256_loadu_ps(vp + 8);
    __m256 p;
    p = _mm256_broadcast_ss(sp);
    GMHA_FMA2(0, p);
    p = _mm256_broadcast_ss(sp + 1);
    GMHA_FMA2(1, p);
    p = _mm256_broadcast_ss(sp + 2);
    GMHA_FMA2(2, p);
    p = _mm256_broadcast_ss(sp + 3);
    GMHA_FMA2(3, p);
    if constexpr (RH == 6) {
      p = _mm256_broadcast_ss(sp + 4);
      GMHA_FMA2(4, p);
      p = _mm256_broadcast_ss(sp + 5);
      GMHA_FMA2(5, p);
    }
  }
#define GMHA_STORE_O(r)                                                \
  if (r < RH) {                                                        \
    store_o(o + (h + r) * o_stride + w0, c0, a##r##0);                 \
    if (c1 > 0) store_o(o + (h + r) * o_stride + w0 + 8, c1, a##r##1); \
  }
  GMHA_STORE_O(0) GMHA_STORE_O(1) GMHA_STORE_O(2) GMHA_STORE_O(3) GMHA_STORE_O(4) GMHA_STORE_O(5)
#undef GMHA_STORE_O
}
#undef GMHA_FMA2
#undef GMHA_ACC2

// PV for RH (< 4) heads: the head remainder, same contract as pv_tile_x2.
template <int RH>
inline void pv_tile(const float* s, int64_t s_stride, int64_t h, const float* vt, int64_t nb,
                    int64_t w0, int64_t width, float* o, int64_t o_stride, const float* alpha) {
  const int64_t c0 = width < 8 ? width : 8, c1 = width - c0;
  __m256 acc0[RH], acc1[RH];
  for (int r = 0; r < RH; ++r) {
    const __m256 a = _mm256_set1_ps(alpha[h + r]);
    float* orow = o + (h + r) * o_stride + w0;
    acc0[r] = _mm256_mul_ps(a, load_o(orow, c0));
    acc1[r] = c1 > 0 ? _mm256_mul_ps(a, load_o(orow + 8, c1)) : _mm256_setzero_ps();
  }
  for (int64_t j = 0; j < nb; ++j) {
    const __m256 v0 = _mm256_loadu_ps(vt + 16 * j), v1 = _mm256_loadu_ps(vt + 16 * j + 8);
    for (int r = 0; r < RH; ++r) {
      const __m256 p = _mm256_broadcast_ss(s + j * s_stride + h + r);
      acc0[r] = _mm256_fmadd_ps(p, v0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(p, v1, acc1[r]);
    }
  }
  for (int r = 0; r < RH; ++r) {
    float* orow = o + (h + r) * o_stride + w0;
    store_o(orow, c0, acc0[r]);
    if (c1 > 0) store_o(orow + 8, c1, acc1[r]);
  }
}

// Columns [w0, w0 + width) of nb value rows, widened to float and packed contiguous [nb][16]
// (zero-padded): rows of the cache are often a power of two times 64 bytes apart, so a column
// tile read in place would map to a few L1 sets and be evicted between head tiles.
template <bool BF16>
inline void pack_values(const void* v, int64_t v_stride, int64_t nb, int64_t w0, int64_t width,
                        float* vt) {
  const int64_t c0 = width < 8 ? width : 8, c1 = width - c0;
  for (int64_t j = 0; j < nb; ++j) {
    _mm256_storeu_ps(vt + 16 * j, load_values(v, BF16, j * v_stride + w0, c0));
    _mm256_storeu_ps(vt + 16 * j + 8, c1 > 0 ? load_values(v, BF16, j * v_stride + w0 + 8, c1)
                                             : _mm256_setzero_ps());
  }
}

// Each 6-head tile also issues nb / 6 prefetches of the next block (4-head tiles one per token,
// and fewer heads nb per column tile).
void pv(const float* s, int64_t s_stride, int64_t h0, int64_t nh, const void* v, bool v_bf16,
        int64_t v_stride, int64_t nb, int64_t vw, float* o, int64_t o_stride, const float* alpha,
        PrefetchCursor* pf) {
  float vt[kDecodeBlock * 16];
  for (int64_t w0 = 0; w0 < vw; w0 += 16) {
    const int64_t width = vw - w0 < 16 ? vw - w0 : 16;
    if (nh < 4) prefetch_lines(pf, nb);
    if (v_bf16) {
      pack_values<true>(v, v_stride, nb, w0, width, vt);
    } else {
      pack_values<false>(v, v_stride, nb, w0, width, vt);
    }
    int64_t h = h0;
    for (; h + 6 <= h0 + nh; h += 6) {
      prefetch_lines(pf, nb / 6);
      pv_tile_x2<6>(s, s_stride, h, vt, nb, w0, width, o, o_stride, alpha, pf);
    }
    for (; h + 4 <= h0 + nh; h += 4)
      pv_tile_x2<4>(s, s_stride, h, vt, nb, w0, width, o, o_stride, alpha, pf);
    for (; h + 2 <= h0 + nh; h += 2)
      pv_tile<2>(s, s_stride, h, vt, nb, w0, width, o, o_stride, alpha);
    for (; h < h0 + nh; ++h) pv_tile<1>(s, s_stride, h, vt, nb, w0, width, o, o_stride, alpha);
  }
}

// Keys of compute-bound streams widened per block (a bf16 broadcast costs four instructions
// against one for a float; AVX2 has no bf16 arithmetic), memory-bound ones read as bf16; values
// are widened by pv's own packing.
const BlockOps kOps{qk, softmax, pv, false, true, kWidenMinHeads, BlockOps::kNever, true};

}  // namespace

const BlockOps* avx2_block_ops() { return cpu_has_avx2() ? &kOps : nullptr; }

}  // namespace gmha::detail
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

namespace gmha::detail {

#ifdef GMHA_HAVE_AVX2_KERNELS
bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#else
bool cpu_has_avx2() { return false; }
const BlockOps* avx2_block_ops() { return nullptr; }
#endif

}  // namespace gmha::detail
