#pragma once
// CUDA decode attention: one new token's out = softmax(q K^T * scale) V per query head over
// every cached token, for fp32 or bf16 caches, with MFA-KR's on-the-fly key rotation.
// Plain types only (no gmha headers), so the standalone device check (device_check.cu) builds
// with nothing but the CUDA toolkit. Kernel versions, llm.c style (each validated against the
// float64 CPU reference before it is timed, see device_check.cu):
//   v0  naive: one CTA per query head, fp32 CUDA cores, scores in a global buffer, no split.
//       The correctness baseline, not meant to be fast.
//   v1  split-K on CUDA cores: grid (splits, batch*groups, chunks of 8 heads); fp32 FMAs, warp
//       shuffles; exact across splits via a log-sum-exp merge. fp32-exact: the default for an
//       fp32 cache and for value widths above 512.
//   v2  split-K on bf16 tensor cores (mma.sync m16n8k16, fragment layout in mma_layout.hpp):
//       one CTA holds up to 64 query heads of a KV stream as the M dimension (MLA: 32, so the
//       latent is read 4x from L2 instead of 16x), 8 warps; per 32-token tile S = Q K^T (warps
//       over token n-tiles), a warp-per-row online softmax, O += P V (warps over value
//       columns, accumulators in registers); 16-byte global loads. For an fp32 cache every
//       operand is split into bf16 hi + lo and three products are summed (hi*hi + hi*lo +
//       lo*hi), which keeps ~2^-16 relative accuracy. The default for a bf16 cache.
// All versions share the merge kernel and the RoPE tables (rope_tables.hpp).
#include <cstddef>
#include <cstdint>

namespace gmha::cuda {

enum KernelVersion : int { kAutoKernel = -1, kNaive = 0, kV1 = 1, kV2 = 2 };

struct DecodeArgs {
  int64_t batch = 1, groups = 1, heads_per_group = 1, qk_width = 0, v_width = 0, tokens = 0;
  double scale = 1.0;
  int bf16 = 0;  // cache elements are bf16 (else fp32)
  int64_t k_batch_stride = 0, k_group_stride = 0, k_row_stride = 0;
  int64_t v_batch_stride = 0, v_group_stride = 0, v_row_stride = 0;
  // MFA-KR: keys cached before RoPE are rotated to position j for the scores (rope_dim 0: none).
  int rope_dim = 0;
  int rope_interleaved = 0;
  float rope_attention_factor = 1.0f;
  const float* rope_coarse = nullptr;  // device, make_rope_tables(...).coarse, >= tokens rows
  const float* rope_fine = nullptr;    // device, .fine
  // V is the first v_width columns of the K row (MLA latent, MFA-KR pre-RoPE key): the v
  // pointer and strides are ignored and K's are used; v2 then loads the tile once (no RoPE).
  int v_alias = 0;
  int version = kAutoKernel;
  int splits = 0;  // 0: chosen from the SM count; else forced (clamped to the tile count)
};

/// Number of CUDA devices (0 when none or no driver).
int device_count();
/// The version `a.version` resolves to (kAutoKernel: v2 for bf16 with v_width <= 512, else v1).
int resolve_version(const DecodeArgs& a);
const char* version_name(int version);
/// Checks the launch geometry (grid limits, widths a version supports, shared memory of the
/// device). Returns 0 or writes a one-line reason to err and returns non-zero.
int check_args(const DecodeArgs& a, char* err, size_t err_len);
/// Workspace bytes decode_attention_device needs for `a` (split partials; v0: the scores).
size_t workspace_bytes(const DecodeArgs& a);
/// Runs on device pointers (q [batch][groups][heads][qk] fp32, out [..][v_width] fp32, caches)
/// with `workspace` of workspace_bytes(a), asynchronously on `stream` (a cudaStream_t, nullptr =
/// default). Returns the launch error code (0 ok).
int decode_attention_device(const DecodeArgs& a, const void* k, const void* v, const float* q,
                            float* out, void* workspace, void* stream);
/// Splits version `a` would use (after check_args).
int splits_for(const DecodeArgs& a);

/// A KV cache resident on the device: allocated once for max_tokens, appended token by token,
/// decoded a step at a time on its own stream. Layout per stream (b, g): [max_tokens][width]
/// contiguous in `dtype`; V aliases the first v_width columns of the K row when v_aliases_k.
struct CacheSpec {
  int64_t batch = 1, groups = 1, heads_per_group = 1, qk_width = 0, v_width = 0, max_tokens = 0;
  double scale = 1.0;
  int bf16 = 0;
  int v_aliases_k = 0;
  int rope_dim = 0, rope_interleaved = 0;
  double rope_attention_factor = 1.0;
  const double* inv_freq = nullptr;  // host [rope_dim / 2]
  int version = kAutoKernel;
};
struct DeviceCache;
/// Each returns 0 or a CUDA/cause code with a one-line message in err (the cache stays usable
/// only after 0). cache_append copies n tokens from host arrays packed [batch][groups][n][width].
int cache_create(const CacheSpec& s, DeviceCache** out, char* err, size_t err_len);
void cache_destroy(DeviceCache* c);
int cache_append(DeviceCache* c, int64_t n, const void* k_packed, const void* v_packed, char* err,
                 size_t err_len);
/// One step over the cached tokens: q host fp32 [batch][groups][heads][qk], out host fp32
/// [batch][groups][heads][v_width]; copies q in, runs, copies out, synchronises the stream.
int cache_decode(DeviceCache* c, const float* q, float* out, char* err, size_t err_len);
/// Times `reps` decode steps (q already uploaded by a cache_decode) with CUDA events; writes the
/// median seconds per step. Launch errors are checked after every step.
int cache_time(DeviceCache* c, int reps, double* median_seconds, char* err, size_t err_len);
int64_t cache_tokens(const DeviceCache* c);
/// The version decode runs ("v2 (bf16 mma.sync)", ...).
const char* cache_kernel_name(const DeviceCache* c);

}  // namespace gmha::cuda
