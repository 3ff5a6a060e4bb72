// CUDA decode attention; see decode_attention.cuh for the algorithm.
#include "decode_attention.cuh"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <vector>

namespace gmha::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kTile = 64;
constexpr int kHeadChunk = 8;

__device__ __forceinline__ float load_elem(const void* base, int bf16, int64_t i) {
  if (bf16) return __bfloat162float(static_cast<const __nv_bfloat16*>(base)[i]);
  return static_cast<const float*>(base)[i];
}

struct Geometry {
  int splits;
  int chunks;
};

Geometry geometry(const DecodeArgs& a) {
  Geometry g;
  g.chunks = static_cast<int>((a.heads_per_group + kHeadChunk - 1) / kHeadChunk);
  const int64_t tiles = (a.tokens + kTile - 1) / kTile;
  const int64_t blocks = a.batch * a.groups * g.chunks;
  int64_t splits = (2 * 132 + blocks - 1) / blocks;  // about two blocks per SM of an H100
  if (splits > tiles) splits = tiles;
  if (splits < 1) splits = 1;
  g.splits = static_cast<int>(splits);
  return g;
}

// Partial results of one split: m, l per head and the unnormalised output [head][v_width].
template <int VMAX>
__global__ void decode_partial(DecodeArgs a, const void* k, const void* v, const float* q,
                               const double* inv_freq, int splits, float* part_m, float* part_l,
                               float* part_o) {
  extern __shared__ float smem[];
  float* q_s = smem;                                 // [kHeadChunk][qk]
  float* s_s = q_s + kHeadChunk * a.qk_width;        // [kHeadChunk][kTile]
  float* alpha_s = s_s + kHeadChunk * kTile;         // [kHeadChunk]
  float* m_s = alpha_s + kHeadChunk;                 // [kHeadChunk]
  float* l_s = m_s + kHeadChunk;                     // [kHeadChunk]
  const int split = blockIdx.x;
  const int64_t seq = blockIdx.y;  // b * groups + g
  const int64_t b = seq / a.groups, g = seq % a.groups;
  const int h0 = blockIdx.z * kHeadChunk;
  const int nh = min(kHeadChunk, static_cast<int>(a.heads_per_group - h0));
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const float qscale = static_cast<float>(a.scale * 1.4426950408889634);
  for (int i = tid; i < kHeadChunk * a.qk_width; i += kThreads) {
    const int h = i / static_cast<int>(a.qk_width), d = i % static_cast<int>(a.qk_width);
    q_s[i] = h < nh ? q[((seq * a.heads_per_group) + h0 + h) * a.qk_width + d] * qscale : 0.0f;
  }
  if (tid < kHeadChunk) {
    m_s[tid] = -INFINITY;
    l_s[tid] = 0.0f;
  }
  const int64_t tiles = (a.tokens + kTile - 1) / kTile;
  const int64_t j_begin = tiles * split / splits * kTile;
  const int64_t j_cap = tiles * (split + 1) / splits * kTile;
  const int64_t j_end = j_cap < a.tokens ? j_cap : a.tokens;
  const int64_t k_off = b * a.k_batch_stride + g * a.k_group_stride;
  const int64_t v_off = b * a.v_batch_stride + g * a.v_group_stride;
  const int half = a.rope_dim / 2;
  float acc[kHeadChunk][VMAX];
#pragma unroll
  for (int h = 0; h < kHeadChunk; ++h)
#pragma unroll
    for (int i = 0; i < VMAX; ++i) acc[h][i] = 0.0f;
  __syncthreads();
  for (int64_t t0 = j_begin; t0 < j_end; t0 += kTile) {
    const int nb = static_cast<int>(j_end - t0 < kTile ? j_end - t0 : kTile);
    // Scores: warp w takes tokens w, w + 4, ...; lanes split the key width.
    for (int jj = warp; jj < nb; jj += kWarps) {
      const int64_t j = t0 + jj;
      const int64_t row = k_off + j * a.k_row_stride;
      float part[kHeadChunk];
#pragma unroll
      for (int h = 0; h < kHeadChunk; ++h) part[h] = 0.0f;
      for (int d = lane; d < a.qk_width; d += 32) {
        float kv = load_elem(k, a.bf16, row + d);
        if (d < a.rope_dim) {
          // Rotate the pre-RoPE key to position j (HF halves or interleaved pairs).
          const bool first = a.rope_interleaved ? (d % 2 == 0) : (d < half);
          const int pair = a.rope_interleaved ? d / 2 : (first ? d : d - half);
          const int partner = a.rope_interleaved ? (d ^ 1) : (first ? d + half : d - half);
          const float other = load_elem(k, a.bf16, row + partner);
          double sn, cs;
          sincos(static_cast<double>(j) * inv_freq[pair], &sn, &cs);
          const double f = a.rope_attention_factor;
          kv = first ? static_cast<float>((kv * cs - other * sn) * f) : static_cast<float>((kv * cs + other * sn) * f);
        }
#pragma unroll
        for (int h = 0; h < kHeadChunk; ++h) part[h] += q_s[h * a.qk_width + d] * kv;
      }
#pragma unroll
      for (int h = 0; h < kHeadChunk; ++h) {
        float x = part[h];
        for (int off = 16; off > 0; off /= 2) x += __shfl_xor_sync(0xffffffffu, x, off);
        if (lane == 0) s_s[h * kTile + jj] = x;
      }
    }
    __syncthreads();
    // Online softmax, one thread per head of the chunk.
    if (tid < kHeadChunk) {
      float* s = s_s + tid * kTile;
      float mx = m_s[tid];
      for (int jj = 0; jj < nb; ++jj) mx = fmaxf(mx, s[jj]);
      float sum = 0.0f;
      for (int jj = 0; jj < nb; ++jj) sum += (s[jj] = exp2f(s[jj] - mx));
      const float al = exp2f(m_s[tid] - mx);
      alpha_s[tid] = al;
      l_s[tid] = l_s[tid] * al + sum;
      m_s[tid] = mx;
    }
    __syncthreads();
    // P V: thread owns value columns tid, tid + 128, ...
#pragma unroll
    for (int i = 0; i < VMAX; ++i) {
      const int c = tid + i * kThreads;
      if (c < a.v_width) {
#pragma unroll
        for (int h = 0; h < kHeadChunk; ++h) acc[h][i] *= alpha_s[h];
        for (int jj = 0; jj < nb; ++jj) {
          const float vv = load_elem(v, a.bf16, v_off + (t0 + jj) * a.v_row_stride + c);
#pragma unroll
          for (int h = 0; h < kHeadChunk; ++h) acc[h][i] += s_s[h * kTile + jj] * vv;
        }
      }
    }
    __syncthreads();
  }
  const int64_t base = (static_cast<int64_t>(split) * a.batch * a.groups + seq) * a.heads_per_group;
  if (tid < nh) {
    part_m[base + h0 + tid] = m_s[tid];
    part_l[base + h0 + tid] = l_s[tid];
  }
#pragma unroll
  for (int i = 0; i < VMAX; ++i) {
    const int c = tid + i * kThreads;
    if (c < a.v_width) {
      for (int h = 0; h < nh; ++h) part_o[(base + h0 + h) * a.v_width + c] = acc[h][i];
    }
  }
}

__global__ void decode_merge(DecodeArgs a, int splits, const float* part_m, const float* part_l,
                             const float* part_o, float* out) {
  const int64_t seq = blockIdx.x, h = blockIdx.y;
  const int64_t stride = a.batch * a.groups * a.heads_per_group;
  const int64_t idx = seq * a.heads_per_group + h;
  float mx = -INFINITY;
  for (int s = 0; s < splits; ++s) mx = fmaxf(mx, part_m[s * stride + idx]);
  float denom = 0.0f;
  for (int s = 0; s < splits; ++s) denom += exp2f(part_m[s * stride + idx] - mx) * part_l[s * stride + idx];
  for (int64_t c = threadIdx.x; c < a.v_width; c += blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < splits; ++s) acc += exp2f(part_m[s * stride + idx] - mx) * part_o[(s * stride + idx) * a.v_width + c];
    out[idx * a.v_width + c] = acc / denom;
  }
}

template <int VMAX>
cudaError_t launch_partial(const DecodeArgs& a, const Geometry& geo, const void* k, const void* v, const float* q,
                           const double* d_inv_freq, float* pm, float* pl, float* po) {
  const size_t smem = sizeof(float) * (kHeadChunk * a.qk_width + kHeadChunk * kTile + 3 * kHeadChunk);
  if (smem > 48 * 1024) {
    cudaError_t e = cudaFuncSetAttribute(decode_partial<VMAX>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  dim3 grid(geo.splits, static_cast<unsigned>(a.batch * a.groups), geo.chunks);
  decode_partial<VMAX><<<grid, kThreads, smem>>>(a, k, v, q, d_inv_freq, geo.splits, pm, pl, po);
  return cudaGetLastError();
}

}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

int64_t cache_extent(int64_t batch, int64_t bstride, int64_t groups, int64_t gstride, int64_t tokens,
                     int64_t rstride, int64_t width) {
  return (batch - 1) * bstride + (groups - 1) * gstride + (tokens - 1) * rstride + width;
}

size_t workspace_bytes(const DecodeArgs& a) {
  const Geometry geo = geometry(a);
  const size_t heads = static_cast<size_t>(a.batch * a.groups * a.heads_per_group) * geo.splits;
  return heads * sizeof(float) * (2 + static_cast<size_t>(a.v_width));
}

int decode_attention_device(const DecodeArgs& a, const void* k, const void* v, const float* q, float* out,
                            const double* d_inv_freq, void* workspace) {
  const Geometry geo = geometry(a);
  const size_t heads = static_cast<size_t>(a.batch * a.groups * a.heads_per_group) * geo.splits;
  float* pm = static_cast<float*>(workspace);
  float* pl = pm + heads;
  float* po = pl + heads;
  const int64_t vmax = (a.v_width + kThreads - 1) / kThreads;
  cudaError_t e;
  if (vmax <= 1) e = launch_partial<1>(a, geo, k, v, q, d_inv_freq, pm, pl, po);
  else if (vmax <= 2) e = launch_partial<2>(a, geo, k, v, q, d_inv_freq, pm, pl, po);
  else if (vmax <= 4) e = launch_partial<4>(a, geo, k, v, q, d_inv_freq, pm, pl, po);
  else if (vmax <= 8) e = launch_partial<8>(a, geo, k, v, q, d_inv_freq, pm, pl, po);
  else return static_cast<int>(cudaErrorInvalidValue);  // v_width above 1024
  if (e != cudaSuccess) return static_cast<int>(e);
  dim3 grid(static_cast<unsigned>(a.batch * a.groups), static_cast<unsigned>(a.heads_per_group));
  decode_merge<<<grid, 128>>>(a, geo.splits, pm, pl, po, out);
  return static_cast<int>(cudaGetLastError());
}

int decode_attention_host(const DecodeArgs& a, const void* k, const void* v, const float* q, float* out,
                          char* err, size_t err_len) {
  const size_t esize = a.bf16 ? 2 : 4;
  const size_t kb = esize * static_cast<size_t>(cache_extent(a.batch, a.k_batch_stride, a.groups, a.k_group_stride,
                                                             a.tokens, a.k_row_stride, a.qk_width));
  const size_t vb = esize * static_cast<size_t>(cache_extent(a.batch, a.v_batch_stride, a.groups, a.v_group_stride,
                                                             a.tokens, a.v_row_stride, a.v_width));
  const size_t qb = sizeof(float) * static_cast<size_t>(a.batch * a.groups * a.heads_per_group * a.qk_width);
  const size_t ob = sizeof(float) * static_cast<size_t>(a.batch * a.groups * a.heads_per_group * a.v_width);
  const size_t fb = sizeof(double) * static_cast<size_t>(a.rope_dim / 2 + 1);
  void *dk = nullptr, *dv = nullptr, *dq = nullptr, *dout = nullptr, *dfreq = nullptr, *ws = nullptr;
  const bool alias = k == v;
  cudaError_t e = cudaSuccess;
  auto step = [&](cudaError_t r) {
    if (e == cudaSuccess) e = r;
  };
  step(cudaMalloc(&dk, kb));
  if (!alias) step(cudaMalloc(&dv, vb));
  step(cudaMalloc(&dq, qb));
  step(cudaMalloc(&dout, ob));
  step(cudaMalloc(&dfreq, fb));
  step(cudaMalloc(&ws, workspace_bytes(a)));
  if (e == cudaSuccess) {
    step(cudaMemcpy(dk, k, kb, cudaMemcpyHostToDevice));
    if (!alias) step(cudaMemcpy(dv, v, vb, cudaMemcpyHostToDevice));
    step(cudaMemcpy(dq, q, qb, cudaMemcpyHostToDevice));
    if (a.rope_dim > 0) step(cudaMemcpy(dfreq, a.inv_freq, sizeof(double) * (a.rope_dim / 2), cudaMemcpyHostToDevice));
  }
  if (e == cudaSuccess) {
    step(static_cast<cudaError_t>(decode_attention_device(a, dk, alias ? dk : dv, static_cast<const float*>(dq),
                                                          static_cast<float*>(dout), static_cast<const double*>(dfreq), ws)));
  }
  if (e == cudaSuccess) step(cudaMemcpy(out, dout, ob, cudaMemcpyDeviceToHost));
  for (void* p : {dk, dv, dq, dout, dfreq, ws}) {
    if (p) cudaFree(p);
  }
  if (e != cudaSuccess) {
    std::snprintf(err, err_len, "CUDA: %s", cudaGetErrorString(e));
    return static_cast<int>(e);
  }
  return 0;
}

}  // namespace gmha::cuda
