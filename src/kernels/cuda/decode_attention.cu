// CUDA decode attention; see decode_attention.cuh for the kernel versions and the device cache.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "decode_attention.cuh"
#include "mma_layout.hpp"
#include "rope_tables.hpp"

namespace gmha::cuda {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
using bf16_t = uint16_t;  // bf16 bits in the cache (the top half of an IEEE float)

// ---------------------------------------------------------------------------------------------
// Shared device helpers.

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(bf16_t x) {
  return __uint_as_float(static_cast<uint32_t>(x) << 16);
}
__device__ __forceinline__ bf16_t to_bf16(float x) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(x));
}

// Element d of the key of token j (row = its cache row), rotated to position j for MFA-KR
// (HF halves: d pairs with d +- rope_dim/2; interleaved: d pairs with d ^ 1).
template <class T>
__device__ __forceinline__ float key_elem(const DecodeArgs& a, const T* row, int d, int64_t j) {
  float x = to_f(row[d]);
  if (d < a.rope_dim) {
    const int half = a.rope_dim / 2;
    const bool first = a.rope_interleaved ? (d % 2 == 0) : (d < half);
    const int pair = a.rope_interleaved ? d / 2 : (first ? d : d - half);
    const int partner = a.rope_interleaved ? (d ^ 1) : (first ? d + half : d - half);
    const float y = to_f(row[partner]);
    float cs, sn;
    rope_cos_sin(a.rope_coarse, a.rope_fine, half, j, pair, &cs, &sn);
    x = (first ? x * cs - y * sn : x * cs + y * sn) * a.rope_attention_factor;
  }
  return x;
}

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int off = 16; off > 0; off /= 2) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}
__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
  for (int off = 16; off > 0; off /= 2) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, off));
  return x;
}

// Block-wide reduction (blockDim.x a multiple of 32, <= 1024); every thread gets the result.
template <bool kMax>
__device__ float block_reduce(float x, float* red) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
  x = kMax ? warp_max(x) : warp_sum(x);
  __syncthreads();
  if (lane == 0) red[warp] = x;
  __syncthreads();
  float r = kMax ? -INFINITY : 0.0f;
  for (int w = 0; w < nw; ++w) r = kMax ? fmaxf(r, red[w]) : r + red[w];
  return r;
}

// ---------------------------------------------------------------------------------------------
// v0: naive. One CTA per query head (grid batch*groups*heads); scores go to a global buffer
// [heads][tokens] (natural-log domain), then a block max, exp and sum, then one thread per value
// column. No split, no shared-memory tiling: the plainest reading of the formula.

template <class T>
__global__ void naive_kernel(DecodeArgs a, const T* k, const T* v, const float* q, float* out,
                             float* scores) {
  __shared__ float red[32];
  const int64_t head = blockIdx.x;
  const int64_t seq = head / a.heads_per_group, b = seq / a.groups, g = seq % a.groups;
  const T* kb = k + b * a.k_batch_stride + g * a.k_group_stride;
  const T* vb = v + b * a.v_batch_stride + g * a.v_group_stride;
  const float* qh = q + head * a.qk_width;
  float* s = scores + head * a.tokens;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < a.tokens; j += blockDim.x) {
    const T* row = kb + j * a.k_row_stride;
    float dot = 0.0f;
    for (int d = 0; d < a.qk_width; ++d) dot += qh[d] * key_elem(a, row, d, j);
    s[j] = dot * static_cast<float>(a.scale);
    mx = fmaxf(mx, s[j]);
  }
  mx = block_reduce<true>(mx, red);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < a.tokens; j += blockDim.x) sum += (s[j] = expf(s[j] - mx));
  sum = block_reduce<false>(sum, red);  // its __syncthreads also orders the s[] writes
  for (int64_t c = threadIdx.x; c < a.v_width; c += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = 0; j < a.tokens; ++j) acc += s[j] * to_f(vb[j * a.v_row_stride + c]);
    out[head * a.v_width + c] = acc / sum;
  }
}

// ---------------------------------------------------------------------------------------------
// Split geometry shared by v1 and v2: the context is cut into `splits` runs of whole tiles;
// each writes (m, l, o) per head (log2 domain, o unnormalised) and merge_kernel combines them.

struct Split {
  int64_t begin, end;
};
__device__ __forceinline__ Split split_range(int64_t tokens, int tile, int split, int splits) {
  const int64_t tiles = (tokens + tile - 1) / tile;
  const int64_t b = tiles * split / splits * tile, e = tiles * (split + 1) / splits * tile;
  return {b, e < tokens ? e : tokens};
}

// out[head][c] = sum_s 2^(m_s - M) o_s[c] / sum_s 2^(m_s - M) l_s, M = max_s m_s. Grid: one CTA
// per query head (batch*groups*heads), 128 threads over the value columns.
__global__ void merge_kernel(int64_t heads_total, int64_t v_width, int splits, const float* part_m,
                             const float* part_l, const float* part_o, float* out) {
  const int64_t idx = blockIdx.x;
  float mx = -INFINITY;
  for (int s = 0; s < splits; ++s) mx = fmaxf(mx, part_m[s * heads_total + idx]);
  float denom = 0.0f;
  for (int s = 0; s < splits; ++s)
    denom += exp2f(part_m[s * heads_total + idx] - mx) * part_l[s * heads_total + idx];
  const float inv = 1.0f / denom;
  for (int64_t c = threadIdx.x; c < v_width; c += blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < splits; ++s) {
      acc +=
          exp2f(part_m[s * heads_total + idx] - mx) * part_o[(s * heads_total + idx) * v_width + c];
    }
    out[idx * v_width + c] = acc * inv;
  }
}

// ---------------------------------------------------------------------------------------------
// v1: split-K on CUDA cores, fp32 arithmetic. Grid (splits, batch*groups, chunks of 8 heads),
// 128 threads. Per 64-token tile each warp scores 16 tokens (lanes split the key width, shuffle
// sums), 8 threads update the chunk's online softmax, then every thread accumulates its value
// columns (tid, tid + 128, ...) in registers.

constexpr int kV1Threads = 128, kV1Warps = 4, kV1Tile = 64, kV1Chunk = 8;

template <class T, int VMAX>
__global__ void __launch_bounds__(kV1Threads)
    v1_kernel(DecodeArgs a, const T* k, const T* v, const float* q, int splits, float* part_m,
              float* part_l, float* part_o) {
  extern __shared__ float smem[];
  float* q_s = smem;                          // [kV1Chunk][qk]
  float* s_s = q_s + kV1Chunk * a.qk_width;   // [kV1Chunk][kV1Tile]
  float* alpha_s = s_s + kV1Chunk * kV1Tile;  // [kV1Chunk]
  float* m_s = alpha_s + kV1Chunk;            // [kV1Chunk]
  float* l_s = m_s + kV1Chunk;                // [kV1Chunk]
  const int split = blockIdx.x;
  const int64_t seq = blockIdx.y, b = seq / a.groups, g = seq % a.groups;
  const int h0 = blockIdx.z * kV1Chunk;
  const int nh = min(kV1Chunk, static_cast<int>(a.heads_per_group - h0));
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const float qscale = static_cast<float>(a.scale) * kLog2e;
  const int qk = static_cast<int>(a.qk_width);
  for (int i = tid; i < kV1Chunk * qk; i += kV1Threads) {
    const int h = i / qk, d = i % qk;
    q_s[i] = h < nh ? q[(seq * a.heads_per_group + h0 + h) * a.qk_width + d] * qscale : 0.0f;
  }
  if (tid < kV1Chunk) {
    m_s[tid] = -INFINITY;
    l_s[tid] = 0.0f;
  }
  const Split r = split_range(a.tokens, kV1Tile, split, splits);
  const T* kb = k + b * a.k_batch_stride + g * a.k_group_stride;
  const T* vb = v + b * a.v_batch_stride + g * a.v_group_stride;
  float acc[kV1Chunk][VMAX];
#pragma unroll
  for (int h = 0; h < kV1Chunk; ++h)
#pragma unroll
    for (int i = 0; i < VMAX; ++i) acc[h][i] = 0.0f;
  __syncthreads();
  for (int64_t t0 = r.begin; t0 < r.end; t0 += kV1Tile) {
    const int nb = static_cast<int>(r.end - t0 < kV1Tile ? r.end - t0 : kV1Tile);
    for (int jj = warp; jj < nb; jj += kV1Warps) {
      const int64_t j = t0 + jj;
      const T* row = kb + j * a.k_row_stride;
      float part[kV1Chunk];
#pragma unroll
      for (int h = 0; h < kV1Chunk; ++h) part[h] = 0.0f;
      for (int d = lane; d < qk; d += 32) {
        const float kv = key_elem(a, row, d, j);
#pragma unroll
        for (int h = 0; h < kV1Chunk; ++h) part[h] += q_s[h * qk + d] * kv;
      }
#pragma unroll
      for (int h = 0; h < kV1Chunk; ++h) {
        const float x = warp_sum(part[h]);
        if (lane == 0) s_s[h * kV1Tile + jj] = x;
      }
    }
    __syncthreads();
    // Online softmax: warp h' / 2 ... simply one warp per head pair, lanes over the tile.
    for (int h = warp; h < kV1Chunk; h += kV1Warps) {
      float* s = s_s + h * kV1Tile;
      const float x0 = lane < nb ? s[lane] : -INFINITY,
                  x1 = lane + 32 < nb ? s[lane + 32] : -INFINITY;
      const float mx = fmaxf(m_s[h], warp_max(fmaxf(x0, x1)));
      const float p0 = exp2f(x0 - mx), p1 = exp2f(x1 - mx);
      s[lane] = p0;
      s[lane + 32] = p1;
      const float sum = warp_sum(p0 + p1);
      if (lane == 0) {
        const float al = exp2f(m_s[h] - mx);
        alpha_s[h] = al;
        l_s[h] = l_s[h] * al + sum;
        m_s[h] = mx;
      }
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < VMAX; ++i) {
      const int c = tid + i * kV1Threads;
      if (c < a.v_width) {
#pragma unroll
        for (int h = 0; h < kV1Chunk; ++h) acc[h][i] *= alpha_s[h];
        for (int jj = 0; jj < nb; ++jj) {
          const float vv = to_f(vb[(t0 + jj) * a.v_row_stride + c]);
#pragma unroll
          for (int h = 0; h < kV1Chunk; ++h) acc[h][i] += s_s[h * kV1Tile + jj] * vv;
        }
      }
    }
    __syncthreads();
  }
  const int64_t heads_total = a.batch * a.groups * a.heads_per_group;
  const int64_t base = split * heads_total + seq * a.heads_per_group + h0;
  if (tid < nh) {
    part_m[base + tid] = m_s[tid];
    part_l[base + tid] = l_s[tid];
  }
#pragma unroll
  for (int i = 0; i < VMAX; ++i) {
    const int c = tid + i * kV1Threads;
    if (c < a.v_width) {
#pragma unroll
      for (int h = 0; h < kV1Chunk; ++h) {
        if (h < nh) part_o[(base + h) * a.v_width + c] = acc[h][i];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// v2: bf16 tensor cores. One CTA = (head chunk of 16*MT query heads, split, stream b*groups+g);
// 8 warps. Shared memory (bf16 tiles padded by 8 elements per row so the fragment loads of the
// 8 row groups of a warp fall in distinct banks):
//   Qs [parts][Mc][ldq]   query * scale * log2(e), channels padded to qkp (multiple of 16)
//   Ks [parts][32][ldq]   key tile (rotated for MFA-KR)
//   Vs [parts][32][ldv]   value tile; for an aliased V without RoPE (MLA) Vs is Ks itself
//   Ps [parts][Mc][40]    probabilities of the tile
//   Ss [Mc][36] f32       scores of the tile; m, l, alpha [Mc] f32
// parts = 1 for a bf16 cache; 2 (hi, lo) for fp32 (three products per tile pair).
// Per 32-token tile: load (16-byte global loads when aligned), S = Q K^T (warp item = one
// 16x8 tile of S: m-tile x token n-tile), softmax (warp per head row, lane per token), O += P V
// (warp w owns value n8-tiles w, w+8, ...; MT x NTW accumulators of 4 floats per lane).

constexpr int kV2Threads = 256, kV2Warps = 8, kV2Tile = 32;
constexpr int kV2Ldp = kV2Tile + 8, kV2Lds = kV2Tile + 4;

struct V2Cfg {
  int mt = 1, ntw = 2, parts = 1;
  int qkp = 0, ldq = 0, vt = 0, ldv = 0;
  bool v_in_k = false;  // V read from the K tile (aliased V, no RoPE)
  size_t smem = 0;
  int chunks = 1;
};

V2Cfg v2_config(const DecodeArgs& a) {
  V2Cfg c;
  c.parts = a.bf16 ? 1 : 2;
  c.qkp = static_cast<int>((a.qk_width + 15) / 16 * 16);
  c.ldq = c.qkp + 8;
  c.vt = static_cast<int>((a.v_width + 7) / 8);
  const int ntw_need = (c.vt + kV2Warps - 1) / kV2Warps;
  c.ntw = ntw_need <= 2 ? 2 : ntw_need <= 4 ? 4 : 8;
  const int mt_max = c.ntw == 8 ? 2 : 4;  // MT * NTW <= 16 accumulator tiles (64 floats/lane)
  const int mt_need = static_cast<int>((a.heads_per_group + 15) / 16);
  c.mt = mt_need <= 1 ? 1 : mt_need <= 2 ? 2 : 4;
  if (c.mt > mt_max) c.mt = mt_max;
  const int mc = 16 * c.mt;
  c.chunks = static_cast<int>((a.heads_per_group + mc - 1) / mc);
  c.v_in_k = a.v_alias && a.rope_dim == 0;
  c.ldv = c.v_in_k ? c.ldq : c.vt * 8 + 8;
  const size_t bf =
      sizeof(bf16_t) * c.parts *
      (static_cast<size_t>(mc) * c.ldq + static_cast<size_t>(kV2Tile) * c.ldq +
       (c.v_in_k ? 0 : static_cast<size_t>(kV2Tile) * c.ldv) + static_cast<size_t>(mc) * kV2Ldp);
  const size_t bf_aligned = (bf + 15) / 16 * 16;
  c.smem = bf_aligned + sizeof(float) * (static_cast<size_t>(mc) * kV2Lds + 3 * mc);
  return c;
}

__device__ __forceinline__ void mma_bf16_16816(float* d, const uint32_t* a, const uint32_t* b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  (void)d, (void)a, (void)b;
  __trap();  // check_args refuses v2 below sm_80
#endif
}

// Stores 8 consecutive values of one tile row as bf16 (parts 1) or hi/lo bf16 (parts 2).
template <int P>
__device__ __forceinline__ void store8(bf16_t* dst, size_t part_stride, const float* x) {
  uint32_t hi[4], lo[4];
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const bf16_t h0 = to_bf16(x[2 * e]), h1 = to_bf16(x[2 * e + 1]);
    hi[e] = mma::pack(h0, h1);
    if (P == 2) lo[e] = mma::pack(to_bf16(x[2 * e] - to_f(h0)), to_bf16(x[2 * e + 1] - to_f(h1)));
  }
  *reinterpret_cast<uint4*>(dst) = make_uint4(hi[0], hi[1], hi[2], hi[3]);
  if (P == 2) *reinterpret_cast<uint4*>(dst + part_stride) = make_uint4(lo[0], lo[1], lo[2], lo[3]);
}

// Loads a [kV2Tile][width] tile of rows t0 .. t0 + nb - 1 into dst ([parts][kV2Tile][ld]),
// zero-filling rows >= nb and columns >= width up to `padded`. rope: keys rotated per token.
template <class T, int P>
__device__ void load_tile(const DecodeArgs& a, const T* base, int64_t row_stride, int64_t t0,
                          int nb, int width, int padded, int ld, bool vec, bool rope, bf16_t* dst) {
  const int per_row = padded / 8;
  const size_t pstride = static_cast<size_t>(kV2Tile) * ld;
  for (int idx = threadIdx.x; idx < kV2Tile * per_row; idx += kV2Threads) {
    const int r = idx / per_row, c8 = (idx % per_row) * 8;
    bf16_t* d = dst + r * ld + c8;
    const int64_t j = t0 + r;
    const T* row = base + j * row_stride;
    if (r < nb && c8 + 8 <= width && vec && !rope) {
      if constexpr (std::is_same_v<T, bf16_t>) {
        *reinterpret_cast<uint4*>(d) = __ldg(reinterpret_cast<const uint4*>(row + c8));
        continue;
      } else {
        const float4 x0 = __ldg(reinterpret_cast<const float4*>(row + c8));
        const float4 x1 = __ldg(reinterpret_cast<const float4*>(row + c8 + 4));
        const float x[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
        store8<P>(d, pstride, x);
        continue;
      }
    }
    float x[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const int col = c8 + e;
      x[e] = (r < nb && col < width) ? (rope ? key_elem(a, row, col, j) : to_f(row[col])) : 0.0f;
    }
    store8<P>(d, pstride, x);
  }
}

template <class T, int MT, int NTW>
__global__ void __launch_bounds__(kV2Threads, 2)
    v2_kernel(DecodeArgs a, V2Cfg cfg, const T* k, const T* v, const float* q, int splits,
              int vec_k, int vec_v, float* part_m, float* part_l, float* part_o) {
  constexpr int P = std::is_same_v<T, float> ? 2 : 1;
  constexpr int Mc = 16 * MT;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int ldq = cfg.ldq, qkp = cfg.qkp, ldv = cfg.ldv, vt_count = cfg.vt;
  bf16_t* Qs = reinterpret_cast<bf16_t*>(smem_raw);
  bf16_t* Ks = Qs + P * Mc * ldq;
  bf16_t* Vs = cfg.v_in_k ? Ks : Ks + P * kV2Tile * ldq;
  bf16_t* Ps = (cfg.v_in_k ? Ks + P * kV2Tile * ldq : Vs + P * kV2Tile * ldv);
  const size_t v_pstride = static_cast<size_t>(kV2Tile) * ldv;
  size_t off = reinterpret_cast<unsigned char*>(Ps + P * Mc * kV2Ldp) - smem_raw;
  off = (off + 15) / 16 * 16;
  float* Ss = reinterpret_cast<float*>(smem_raw + off);
  float* m_s = Ss + Mc * kV2Lds;
  float* l_s = m_s + Mc;
  float* alpha_s = l_s + Mc;

  const int chunk = blockIdx.x, split = blockIdx.y;
  const int64_t seq = blockIdx.z, b = seq / a.groups, g = seq % a.groups;
  const int h0 = chunk * Mc;
  const int H = static_cast<int>(a.heads_per_group);
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int qk = static_cast<int>(a.qk_width), vw = static_cast<int>(a.v_width);

  // Query chunk, pre-scaled so the softmax runs in exp2.
  const float qscale = static_cast<float>(a.scale) * kLog2e;
  for (int idx = tid; idx < Mc * (qkp / 8); idx += kV2Threads) {
    const int r = idx / (qkp / 8), c8 = (idx % (qkp / 8)) * 8;
    const int h = h0 + r;
    float x[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const int d = c8 + e;
      x[e] = (h < H && d < qk) ? q[(seq * H + h) * a.qk_width + d] * qscale : 0.0f;
    }
    store8<P>(Qs + r * ldq + c8, static_cast<size_t>(Mc) * ldq, x);
  }
  if (tid < Mc) {
    m_s[tid] = -INFINITY;
    l_s[tid] = 0.0f;
  }
  float acc[MT][NTW][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int i = 0; i < NTW; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][i][e] = 0.0f;

  const T* kb = k + b * a.k_batch_stride + g * a.k_group_stride;
  const T* vb = a.v_alias ? kb : v + b * a.v_batch_stride + g * a.v_group_stride;
  const int64_t v_row_stride = a.v_alias ? a.k_row_stride : a.v_row_stride;
  const Split range = split_range(a.tokens, kV2Tile, split, splits);
  for (int64_t t0 = range.begin; t0 < range.end; t0 += kV2Tile) {
    const int nb = static_cast<int>(range.end - t0 < kV2Tile ? range.end - t0 : kV2Tile);
    load_tile<T, P>(a, kb, a.k_row_stride, t0, nb, qk, qkp, ldq, vec_k, a.rope_dim > 0, Ks);
    if (!cfg.v_in_k)
      load_tile<T, P>(a, vb, v_row_stride, t0, nb, vw, vt_count * 8, ldv, vec_v, false, Vs);
    __syncthreads();  // (also orders the query and m/l initialisation on the first tile)

    // S = Q K^T: item = (m-tile, token n-tile of 8).
    constexpr int kNtt = kV2Tile / 8;
    for (int item = warp; item < MT * kNtt; item += kV2Warps) {
      const int mt = item / kNtt, nt = item % kNtt;
      float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
      for (int k0 = 0; k0 < qkp; k0 += 16) {
        uint32_t af[P][4], bfr[P][2];
#pragma unroll
        for (int p = 0; p < P; ++p) {
#pragma unroll
          for (int r = 0; r < 4; ++r)
            af[p][r] = mma::load_a(Qs + (p * Mc + mt * 16) * ldq + k0, ldq, lane, r);
#pragma unroll
          for (int r = 0; r < 2; ++r)
            bfr[p][r] = mma::load_b_nk(Ks + (p * kV2Tile + nt * 8) * ldq + k0, ldq, lane, r);
        }
        if (P == 2) {
          mma_bf16_16816(s, af[0], bfr[P - 1]);  // hi * lo
          mma_bf16_16816(s, af[P - 1], bfr[0]);  // lo * hi
        }
        mma_bf16_16816(s, af[0], bfr[0]);  // hi * hi
      }
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const mma::Coord c = mma::c_coord(lane, e);
        const int col = nt * 8 + c.col;
        Ss[(mt * 16 + c.row) * kV2Lds + col] = col < nb ? s[e] : -INFINITY;
      }
    }
    __syncthreads();

    // Online softmax: warp per head row, lane per token of the tile.
    for (int r = warp; r < Mc; r += kV2Warps) {
      const float x = Ss[r * kV2Lds + lane];
      const float m_old = m_s[r];
      const float m_new = fmaxf(m_old, warp_max(x));  // finite: every tile has a valid token
      const float p = exp2f(x - m_new);
      const float sum = warp_sum(p);
      const bf16_t ph = to_bf16(p);
      Ps[r * kV2Ldp + lane] = ph;
      if (P == 2) Ps[(Mc + r) * kV2Ldp + lane] = to_bf16(p - to_f(ph));
      __syncwarp();
      if (lane == 0) {
        const float al = exp2f(m_old - m_new);
        alpha_s[r] = al;
        l_s[r] = l_s[r] * al + sum;
        m_s[r] = m_new;
      }
    }
    __syncthreads();

    // O = O * alpha + P V over this warp's value n8-tiles.
#pragma unroll
    for (int i = 0; i < NTW; ++i) {
      const int vt = warp + kV2Warps * i;
      if (vt < vt_count) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
          for (int e = 0; e < 4; ++e) acc[mt][i][e] *= alpha_s[mt * 16 + mma::c_coord(lane, e).row];
        }
#pragma unroll
        for (int k0 = 0; k0 < kV2Tile; k0 += 16) {
          uint32_t bfr[P][2];
#pragma unroll
          for (int p = 0; p < P; ++p) {
#pragma unroll
            for (int r = 0; r < 2; ++r)
              bfr[p][r] = mma::load_b_kn(Vs + p * v_pstride + k0 * ldv + vt * 8, ldv, lane, r);
          }
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            uint32_t af[P][4];
#pragma unroll
            for (int p = 0; p < P; ++p) {
#pragma unroll
              for (int r = 0; r < 4; ++r)
                af[p][r] = mma::load_a(Ps + (p * Mc + mt * 16) * kV2Ldp + k0, kV2Ldp, lane, r);
            }
            if (P == 2) {
              mma_bf16_16816(acc[mt][i], af[0], bfr[P - 1]);
              mma_bf16_16816(acc[mt][i], af[P - 1], bfr[0]);
            }
            mma_bf16_16816(acc[mt][i], af[0], bfr[0]);
          }
        }
      }
    }
    __syncthreads();  // before the next tile overwrites Ks, Vs, Ps and alpha
  }

  const int64_t heads_total = a.batch * a.groups * a.heads_per_group;
  const int64_t base = split * heads_total + seq * a.heads_per_group;
  if (tid < Mc && h0 + tid < H) {
    part_m[base + h0 + tid] = m_s[tid];
    part_l[base + h0 + tid] = l_s[tid];
  }
#pragma unroll
  for (int i = 0; i < NTW; ++i) {
    const int vt = warp + kV2Warps * i;
    if (vt < vt_count) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const mma::Coord c = mma::c_coord(lane, e);
          const int h = h0 + mt * 16 + c.row, col = vt * 8 + c.col;
          if (h < H && col < vw) part_o[(base + h) * a.v_width + col] = acc[mt][i][e];
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Host side.

int device_sms() {
  int dev = 0, sms = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return 1;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || sms < 1)
    return 1;
  return sms;
}

constexpr int kMaxSplits = 1024;          // grid.y limit is 65535; the merge reads every split
constexpr int64_t kMinSplitTokens = 256;  // keeps the partials (H x V floats per split) small

// Splits so the grid fills the SMs about `per_sm` CTAs each, no shorter than kMinSplitTokens.
int choose_splits(const DecodeArgs& a, int tile, int64_t ctas_per_split, int per_sm) {
  const int64_t tiles = (a.tokens + tile - 1) / tile;
  int64_t s;
  if (a.splits > 0) {
    s = a.splits;
  } else {
    const int64_t want =
        (static_cast<int64_t>(device_sms()) * per_sm + ctas_per_split - 1) / ctas_per_split;
    const int64_t cap = (a.tokens + kMinSplitTokens - 1) / kMinSplitTokens;
    s = std::min(want, cap);
  }
  s = std::min<int64_t>({s, tiles, kMaxSplits});
  return static_cast<int>(std::max<int64_t>(s, 1));
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Whether a version's 16-byte loads are legal for this cache: every row start 16-byte aligned.
bool vec_ok(const void* base, int esize, int64_t width, int64_t bs, int64_t gs, int64_t rs) {
  const int64_t per16 = 16 / esize;
  return aligned16(base) && width % 8 == 0 && bs % per16 == 0 && gs % per16 == 0 && rs % per16 == 0;
}

template <class T, int MT, int NTW>
cudaError_t launch_v2_t(const DecodeArgs& a, const V2Cfg& c, const void* k, const void* v,
                        const float* q, int splits, float* pm, float* pl, float* po,
                        cudaStream_t st) {
  auto kern = v2_kernel<T, MT, NTW>;
  cudaError_t e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(c.smem));
  if (e != cudaSuccess) return e;
  const int es = static_cast<int>(sizeof(T));
  const int vk =
      vec_ok(k, es, a.qk_width, a.k_batch_stride, a.k_group_stride, a.k_row_stride) ? 1 : 0;
  const int vv =
      a.v_alias
          ? vk
          : (vec_ok(v, es, a.v_width, a.v_batch_stride, a.v_group_stride, a.v_row_stride) ? 1 : 0);
  dim3 grid(static_cast<unsigned>(c.chunks), static_cast<unsigned>(splits),
            static_cast<unsigned>(a.batch * a.groups));
  kern<<<grid, kV2Threads, c.smem, st>>>(a, c, static_cast<const T*>(k), static_cast<const T*>(v),
                                         q, splits, vk, vv, pm, pl, po);
  return cudaGetLastError();
}

template <class T>
cudaError_t launch_v2(const DecodeArgs& a, const V2Cfg& c, const void* k, const void* v,
                      const float* q, int splits, float* pm, float* pl, float* po,
                      cudaStream_t st) {
#define GMHA_V2(MT_, NTW_)          \
  if (c.mt == MT_ && c.ntw == NTW_) \
  return launch_v2_t<T, MT_, NTW_>(a, c, k, v, q, splits, pm, pl, po, st)
  GMHA_V2(1, 2);
  GMHA_V2(2, 2);
  GMHA_V2(4, 2);
  GMHA_V2(1, 4);
  GMHA_V2(2, 4);
  GMHA_V2(4, 4);
  GMHA_V2(1, 8);
  GMHA_V2(2, 8);
#undef GMHA_V2
  return cudaErrorInvalidConfiguration;
}

template <class T>
cudaError_t launch_v1(const DecodeArgs& a, const void* k, const void* v, const float* q, int splits,
                      float* pm, float* pl, float* po, cudaStream_t st) {
  const size_t smem = sizeof(float) * (kV1Chunk * a.qk_width + kV1Chunk * kV1Tile + 3 * kV1Chunk);
  const int64_t vmax = (a.v_width + kV1Threads - 1) / kV1Threads;
  dim3 grid(static_cast<unsigned>(splits), static_cast<unsigned>(a.batch * a.groups),
            static_cast<unsigned>((a.heads_per_group + kV1Chunk - 1) / kV1Chunk));
  auto run = [&](auto kern) {
    cudaError_t e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(smem));
    if (e != cudaSuccess) return e;
    kern<<<grid, kV1Threads, smem, st>>>(a, static_cast<const T*>(k), static_cast<const T*>(v), q,
                                         splits, pm, pl, po);
    return cudaGetLastError();
  };
  if (vmax <= 1) return run(v1_kernel<T, 1>);
  if (vmax <= 2) return run(v1_kernel<T, 2>);
  if (vmax <= 4) return run(v1_kernel<T, 4>);
  return run(v1_kernel<T, 8>);
}

int64_t heads_total(const DecodeArgs& a) { return a.batch * a.groups * a.heads_per_group; }

int fail(char* err, size_t n, const std::string& msg) {
  if (err && n) std::snprintf(err, n, "%s", msg.c_str());
  return static_cast<int>(cudaErrorInvalidValue);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

int resolve_version(const DecodeArgs& a) {
  if (a.version != kAutoKernel) return a.version;
  return a.bf16 && a.v_width <= 512 ? kV2 : kV1;
}

const char* version_name(int v) {
  switch (v) {
    case kNaive:
      return "v0 (naive, fp32 CUDA cores)";
    case kV1:
      return "v1 (split-K, fp32 CUDA cores)";
    case kV2:
      return "v2 (split-K, bf16 mma.sync m16n8k16)";
    default:
      return "unknown";
  }
}

int splits_for(const DecodeArgs& a) {
  switch (resolve_version(a)) {
    case kNaive:
      return 1;
    case kV1: {
      const int64_t ctas = a.batch * a.groups * ((a.heads_per_group + kV1Chunk - 1) / kV1Chunk);
      return choose_splits(a, kV1Tile, ctas, 4);
    }
    default: {
      const V2Cfg c = v2_config(a);
      return choose_splits(a, kV2Tile, a.batch * a.groups * c.chunks, 2);
    }
  }
}

int check_args(const DecodeArgs& a, char* err, size_t n) {
  const int ver = resolve_version(a);
  if (a.batch < 1 || a.groups < 1 || a.heads_per_group < 1 || a.qk_width < 1 || a.v_width < 1 ||
      a.tokens < 1) {
    return fail(err, n, "CUDA decode: batch, groups, heads, widths and tokens must be positive");
  }
  if (a.v_alias && a.v_width > a.qk_width)
    return fail(err, n, "CUDA decode: an aliased V is wider than the K row");
  if (a.rope_dim > 0 &&
      (a.rope_dim % 2 || a.rope_dim > a.qk_width || !a.rope_coarse || !a.rope_fine)) {
    return fail(err, n,
                "CUDA decode: key RoPE needs an even rope_dim <= qk_width and device tables");
  }
  if (a.batch * a.groups > 65535) {
    return fail(
        err, n,
        "CUDA decode: batch * groups = " + std::to_string(a.batch * a.groups) + " exceeds 65535");
  }
  if (a.qk_width > 4096) return fail(err, n, "CUDA decode: qk_width above 4096");
  int dev = 0, optin = 0, major = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
  switch (ver) {
    case kNaive:
      if (heads_total(a) > 0x7fffffff)
        return fail(err, n, "CUDA decode v0: too many heads for grid.x");
      return 0;
    case kV1: {
      if (a.v_width > 1024) return fail(err, n, "CUDA decode v1: value width above 1024");
      const size_t smem =
          sizeof(float) * (kV1Chunk * a.qk_width + kV1Chunk * kV1Tile + 3 * kV1Chunk);
      if (optin > 0 && smem > static_cast<size_t>(optin))
        return fail(err, n, "CUDA decode v1: shared memory exceeds the device's");
      if ((a.heads_per_group + kV1Chunk - 1) / kV1Chunk > 65535)
        return fail(err, n, "CUDA decode v1: too many heads");
      return 0;
    }
    case kV2: {
      if (a.v_width > 512) return fail(err, n, "CUDA decode v2: value width above 512 (use v1)");
      if (major > 0 && major < 8)
        return fail(err, n, "CUDA decode v2: bf16 mma.sync needs sm_80 or newer");
      const V2Cfg c = v2_config(a);
      if (optin > 0 && c.smem > static_cast<size_t>(optin)) {
        return fail(err, n,
                    "CUDA decode v2: needs " + std::to_string(c.smem) +
                        " bytes of shared memory, device allows " + std::to_string(optin));
      }
      if (c.chunks > 0x7fffffff) return fail(err, n, "CUDA decode v2: too many heads");
      return 0;
    }
    default:
      return fail(err, n, "CUDA decode: unknown kernel version " + std::to_string(ver));
  }
}

size_t workspace_bytes(const DecodeArgs& a) {
  const size_t heads = static_cast<size_t>(heads_total(a));
  if (resolve_version(a) == kNaive) return heads * static_cast<size_t>(a.tokens) * sizeof(float);
  const size_t s = static_cast<size_t>(splits_for(a));
  return heads * s * sizeof(float) * (2 + static_cast<size_t>(a.v_width));
}

int decode_attention_device(const DecodeArgs& a_in, const void* k, const void* v, const float* q,
                            float* out, void* workspace, void* stream) {
  DecodeArgs a = a_in;
  if (a.v_alias) {
    v = k;
    a.v_batch_stride = a.k_batch_stride;
    a.v_group_stride = a.k_group_stride;
    a.v_row_stride = a.k_row_stride;
  }
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  const int ver = resolve_version(a);
  const int64_t ht = heads_total(a);
  if (ver == kNaive) {
    float* scores = static_cast<float*>(workspace);
    if (a.bf16) {
      naive_kernel<bf16_t><<<static_cast<unsigned>(ht), 128, 0, st>>>(
          a, static_cast<const bf16_t*>(k), static_cast<const bf16_t*>(v), q, out, scores);
    } else {
      naive_kernel<float><<<static_cast<unsigned>(ht), 128, 0, st>>>(
          a, static_cast<const float*>(k), static_cast<const float*>(v), q, out, scores);
    }
    return static_cast<int>(cudaGetLastError());
  }
  const int splits = splits_for(a);
  float* pm = static_cast<float*>(workspace);
  float* pl = pm + static_cast<size_t>(ht) * splits;
  float* po = pl + static_cast<size_t>(ht) * splits;
  cudaError_t e;
  if (ver == kV1) {
    e = a.bf16 ? launch_v1<bf16_t>(a, k, v, q, splits, pm, pl, po, st)
               : launch_v1<float>(a, k, v, q, splits, pm, pl, po, st);
  } else {
    const V2Cfg c = v2_config(a);
    e = a.bf16 ? launch_v2<bf16_t>(a, c, k, v, q, splits, pm, pl, po, st)
               : launch_v2<float>(a, c, k, v, q, splits, pm, pl, po, st);
  }
  if (e != cudaSuccess) return static_cast<int>(e);
  merge_kernel<<<static_cast<unsigned>(ht), 128, 0, st>>>(ht, a.v_width, splits, pm, pl, po, out);
  return static_cast<int>(cudaGetLastError());
}

// ---------------------------------------------------------------------------------------------
// Device-resident cache.

struct DeviceCache {
  CacheSpec s;
  DecodeArgs a;  // geometry of the full allocation; tokens = cached so far
  cudaStream_t stream = nullptr;
  void* k = nullptr;
  void* v = nullptr;
  float* q = nullptr;
  float* out = nullptr;
  void* ws = nullptr;
  float* coarse = nullptr;
  float* fine = nullptr;
  size_t ws_bytes = 0;
  int64_t tokens = 0;
};

namespace {

int cuda_fail(char* err, size_t n, const char* what, cudaError_t e) {
  if (err && n) std::snprintf(err, n, "CUDA %s: %s", what, cudaGetErrorString(e));
  return static_cast<int>(e);
}

}  // namespace

int cache_create(const CacheSpec& s, DeviceCache** out, char* err, size_t n) {
  *out = nullptr;
  if (device_count() == 0) return fail(err, n, "CUDA: no CUDA device found");
  if (s.max_tokens < 1) return fail(err, n, "CUDA cache: max_tokens must be positive");
  auto* c = new DeviceCache;
  c->s = s;
  DecodeArgs& a = c->a;
  a.batch = s.batch;
  a.groups = s.groups;
  a.heads_per_group = s.heads_per_group;
  a.qk_width = s.qk_width;
  a.v_width = s.v_width;
  a.tokens = s.max_tokens;
  a.scale = s.scale;
  a.bf16 = s.bf16;
  a.v_alias = s.v_aliases_k;
  a.k_row_stride = s.qk_width;
  a.k_group_stride = s.max_tokens * s.qk_width;
  a.k_batch_stride = s.groups * a.k_group_stride;
  a.v_row_stride = s.v_width;
  a.v_group_stride = s.max_tokens * s.v_width;
  a.v_batch_stride = s.groups * a.v_group_stride;
  a.rope_dim = s.rope_dim;
  a.rope_interleaved = s.rope_interleaved;
  a.rope_attention_factor = static_cast<float>(s.rope_attention_factor);
  a.version = s.version;
  const size_t es = s.bf16 ? 2 : 4;
  const size_t seqs = static_cast<size_t>(s.batch * s.groups);
  cudaError_t e = cudaSuccess;
  auto step = [&](cudaError_t r, const char* what) {
    if (e == cudaSuccess && r != cudaSuccess) {
      e = r;
      cuda_fail(err, n, what, r);
    }
  };
  step(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "stream");
  step(cudaMalloc(&c->k, seqs * static_cast<size_t>(s.max_tokens * s.qk_width) * es),
       "K cache allocation");
  if (!s.v_aliases_k)
    step(cudaMalloc(&c->v, seqs * static_cast<size_t>(s.max_tokens * s.v_width) * es),
         "V cache allocation");
  const size_t ht = static_cast<size_t>(s.batch * s.groups * s.heads_per_group);
  step(cudaMalloc(&c->q, ht * static_cast<size_t>(s.qk_width) * sizeof(float)), "q allocation");
  step(cudaMalloc(&c->out, ht * static_cast<size_t>(s.v_width) * sizeof(float)), "out allocation");
  if (s.rope_dim > 0 && e == cudaSuccess) {
    const RopeTablesHost t = make_rope_tables(s.inv_freq, s.rope_dim / 2, s.max_tokens);
    step(cudaMalloc(&c->coarse, t.coarse.size() * sizeof(float)), "RoPE table allocation");
    step(cudaMalloc(&c->fine, t.fine.size() * sizeof(float)), "RoPE table allocation");
    if (e == cudaSuccess) {
      step(cudaMemcpy(c->coarse, t.coarse.data(), t.coarse.size() * sizeof(float),
                      cudaMemcpyHostToDevice),
           "RoPE upload");
      step(
          cudaMemcpy(c->fine, t.fine.data(), t.fine.size() * sizeof(float), cudaMemcpyHostToDevice),
          "RoPE upload");
    }
    a.rope_coarse = c->coarse;
    a.rope_fine = c->fine;
  }
  if (e == cudaSuccess) {
    // The largest workspace any length up to max_tokens needs (splits grow with the context).
    c->ws_bytes = workspace_bytes(a);
    step(cudaMalloc(&c->ws, c->ws_bytes), "workspace allocation");
  }
  if (e == cudaSuccess) {
    const int r = check_args(a, err, n);
    if (r != 0) {
      cache_destroy(c);
      return r;
    }
  }
  if (e != cudaSuccess) {
    cache_destroy(c);
    return static_cast<int>(e);
  }
  a.tokens = 0;
  *out = c;
  return 0;
}

void cache_destroy(DeviceCache* c) {
  if (!c) return;
  for (void* p : {c->k, c->v, static_cast<void*>(c->q), static_cast<void*>(c->out), c->ws,
                  static_cast<void*>(c->coarse), static_cast<void*>(c->fine)}) {
    if (p) cudaFree(p);
  }
  if (c->stream) cudaStreamDestroy(c->stream);
  delete c;
}

int cache_append(DeviceCache* c, int64_t n_tok, const void* k_packed, const void* v_packed,
                 char* err, size_t n) {
  const CacheSpec& s = c->s;
  if (n_tok < 1) return 0;
  if (c->tokens + n_tok > s.max_tokens) {
    return fail(err, n, "CUDA cache: full (" + std::to_string(s.max_tokens) + " tokens)");
  }
  const size_t es = s.bf16 ? 2 : 4;
  const size_t rows = static_cast<size_t>(s.batch * s.groups);
  // One 2-D copy per stream: B*G rows of n_tok*width elements, landing at token `tokens` of
  // each [max_tokens][width] block.
  auto copy = [&](void* dst, const void* src, int64_t width) {
    const size_t w = static_cast<size_t>(n_tok * width) * es;
    const size_t dpitch = static_cast<size_t>(s.max_tokens * width) * es;
    char* d = static_cast<char*>(dst) + static_cast<size_t>(c->tokens * width) * es;
    return cudaMemcpy2DAsync(d, dpitch, src, w, w, rows, cudaMemcpyHostToDevice, c->stream);
  };
  cudaError_t e = copy(c->k, k_packed, s.qk_width);
  if (e == cudaSuccess && !s.v_aliases_k) e = copy(c->v, v_packed, s.v_width);
  if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);  // the host buffers may go away
  if (e != cudaSuccess) return cuda_fail(err, n, "append", e);
  c->tokens += n_tok;
  return 0;
}

int cache_decode(DeviceCache* c, const float* q, float* out, char* err, size_t n) {
  if (c->tokens < 1) return fail(err, n, "CUDA cache: decode before any token was appended");
  const CacheSpec& s = c->s;
  const size_t ht = static_cast<size_t>(s.batch * s.groups * s.heads_per_group);
  DecodeArgs a = c->a;
  a.tokens = c->tokens;
  cudaError_t e = cudaMemcpyAsync(c->q, q, ht * static_cast<size_t>(s.qk_width) * sizeof(float),
                                  cudaMemcpyHostToDevice, c->stream);
  if (e != cudaSuccess) return cuda_fail(err, n, "q upload", e);
  e = static_cast<cudaError_t>(
      decode_attention_device(a, c->k, c->v, c->q, c->out, c->ws, c->stream));
  if (e != cudaSuccess) return cuda_fail(err, n, "decode launch", e);
  e = cudaMemcpyAsync(out, c->out, ht * static_cast<size_t>(s.v_width) * sizeof(float),
                      cudaMemcpyDeviceToHost, c->stream);
  if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
  if (e != cudaSuccess) return cuda_fail(err, n, "decode", e);
  return 0;
}

int cache_time(DeviceCache* c, int reps, double* median_seconds, char* err, size_t n) {
  if (c->tokens < 1 || reps < 1) return fail(err, n, "CUDA cache: nothing to time");
  DecodeArgs a = c->a;
  a.tokens = c->tokens;
  std::vector<cudaEvent_t> ev(static_cast<size_t>(reps) + 1);
  cudaError_t e = cudaSuccess;
  for (auto& x : ev) {
    if (e == cudaSuccess) e = cudaEventCreate(&x);
  }
  if (e == cudaSuccess)
    e = static_cast<cudaError_t>(
        decode_attention_device(a, c->k, c->v, c->q, c->out, c->ws, c->stream));
  if (e == cudaSuccess) e = cudaEventRecord(ev[0], c->stream);
  for (int i = 0; i < reps && e == cudaSuccess; ++i) {
    e = static_cast<cudaError_t>(
        decode_attention_device(a, c->k, c->v, c->q, c->out, c->ws, c->stream));
    if (e == cudaSuccess) e = cudaEventRecord(ev[static_cast<size_t>(i) + 1], c->stream);
  }
  if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
  std::vector<double> t;
  for (int i = 0; i < reps && e == cudaSuccess; ++i) {
    float ms = 0;
    e = cudaEventElapsedTime(&ms, ev[static_cast<size_t>(i)], ev[static_cast<size_t>(i) + 1]);
    t.push_back(ms * 1e-3);
  }
  for (auto& x : ev) {
    if (x) cudaEventDestroy(x);
  }
  if (e != cudaSuccess) return cuda_fail(err, n, "timing", e);
  std::sort(t.begin(), t.end());
  *median_seconds = t[t.size() / 2];
  return 0;
}

int64_t cache_tokens(const DeviceCache* c) { return c->tokens; }

const char* cache_kernel_name(const DeviceCache* c) { return version_name(resolve_version(c->a)); }

}  // namespace gmha::cuda
