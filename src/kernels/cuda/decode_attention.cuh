#pragma once
// CUDA decode attention (split-K "flash decoding"): the same step as gmha::decode_attention on
// the CPU, out = softmax(q K^T * scale) V per query head over every cached token, for fp32 or
// bf16 caches, with MFA-KR's on-the-fly key rotation. Plain types only, so the standalone
// device check (device_check.cu) builds with nothing but the CUDA toolkit.
//
// Kernel: grid (splits, batch * groups, head chunks of 8); 128 threads. Per 64-token tile, each
// warp scores 16 tokens (lanes split the key width, coalesced reads, warp-shuffle sums), then
// 8 threads update the online softmax of the chunk's heads, then every thread accumulates its
// value columns (coalesced V reads) in registers. A second kernel merges the splits exactly.
#include <cstddef>
#include <cstdint>

namespace gmha::cuda {

struct DecodeArgs {
  int64_t batch = 1, groups = 1, heads_per_group = 1, qk_width = 0, v_width = 0, tokens = 0;
  double scale = 1.0;
  int bf16 = 0;  // cache elements are bf16 (else fp32)
  int64_t k_batch_stride = 0, k_group_stride = 0, k_row_stride = 0;
  int64_t v_batch_stride = 0, v_group_stride = 0, v_row_stride = 0;
  // MFA-KR: keys cached before RoPE are rotated to position j for the scores (rope_dim 0: none).
  int rope_dim = 0;
  int rope_interleaved = 0;
  double rope_attention_factor = 1.0;
  const double* inv_freq = nullptr;  // host array [rope_dim / 2]
};

/// Number of CUDA devices (0 when none or no driver).
int device_count();
/// Elements a cache spans for these strides (the highest index read + 1).
int64_t cache_extent(int64_t batch, int64_t bstride, int64_t groups, int64_t gstride, int64_t tokens,
                     int64_t rstride, int64_t width);
/// Copies the caches and q (host) to the device, runs, copies `out` back. Returns 0, or a
/// non-zero code with a one-line message in `err`.
int decode_attention_host(const DecodeArgs& a, const void* k, const void* v, const float* q, float* out,
                          char* err, size_t err_len);
/// Runs on device pointers (q, out, caches) with `workspace` from workspace_bytes(a). Async on
/// the default stream; returns the launch error code.
int decode_attention_device(const DecodeArgs& a, const void* k, const void* v, const float* q, float* out,
                            const double* d_inv_freq, void* workspace);
size_t workspace_bytes(const DecodeArgs& a);

}  // namespace gmha::cuda
