#pragma once
// Fast CPU decode: one new token's attention over a long KV cache, the step that dominates
// long-context inference. The context is split across threads (split-K); each split runs an
// online softmax over blocks of 48 cached tokens (scores S = K_blk Q^T, running max and sum,
// O = O * alpha + P V_blk) and the splits are merged exactly at the end. AVX-512 kernels
// (and AVX512-BF16 dot products for a bf16 cache), else AVX2+FMA kernels, are chosen at run time
// when the CPU has them; a portable path runs everywhere else and is the baseline the tests
// compare against.
#include <cstdint>

#include "gmha/core/dtype.hpp"
#include "gmha/core/float_formats.hpp"
#include <string>
#include <vector>

#include "gmha/kernels/layer_weights.hpp"

namespace gmha {

/// The cache element types the decode kernels read: DType::kF32 and DType::kBF16 of the one dtype
/// vocabulary (gmha/core/dtype.hpp); read_cache_dtype and decode_attention refuse the others.
using CacheDType = DType;
/// kCuda copies the cache to the GPU and runs src/kernels/cuda/ (InputError without CUDA).
enum class KernelPath { kAuto, kPortable, kAvx2, kAvx512, kCuda };

/// "fp32" / "bf16".
std::string cache_dtype_name(CacheDType t);
/// Parses fp32|f32|float32|bf16; throws InputError naming `where`.
CacheDType read_cache_dtype(const std::string& name, const std::string& where);
/// Bytes per cached element (4 or 2).
int64_t cache_dtype_bytes(CacheDType t);
// A bf16 cache stores float_to_bf16 of each value (gmha/core/float_formats.hpp).

/// The kernel path `p` runs as on this CPU: "avx512+bf16", "avx512", "avx2" or "portable" (kAuto:
/// the fastest this CPU has).
std::string cpu_kernel_path_name(KernelPath p = KernelPath::kAuto);
/// Every CPU path this CPU can run, portable first (what tests and `gmha validate` check).
std::vector<KernelPath> cpu_kernel_paths();

/// One decode step's core attention: out = softmax(q K^T * scale) V per query head, over every
/// cached token. Element (b, g, j, i) of the K cache is at
/// k + b*k_batch_stride + g*k_group_stride + j*k_row_stride + i (in elements of `dtype`); the
/// same for V, which may alias K (MLA reads the latent as V, MFA-KR the pre-RoPE key).
struct DecodeProblem {
  int64_t batch = 1;
  int64_t groups = 1;           // KV streams: g for GQA, 1 for MLA/MFA, d for FPBA
  int64_t heads_per_group = 1;  // query heads sharing one stream
  int64_t qk_width = 0;
  int64_t v_width = 0;
  int64_t tokens = 0;  // cached tokens, all attended (the new token's K/V already appended)
  double scale = 1.0;  // softmax scale
  CacheDType dtype = CacheDType::kF32;
  const void* k = nullptr;
  int64_t k_batch_stride = 0, k_group_stride = 0, k_row_stride = 0;
  const void* v = nullptr;
  int64_t v_batch_stride = 0, v_group_stride = 0, v_row_stride = 0;
  /// MFA-KR: keys are cached before RoPE; the kernel rotates key j to position j for the scores
  /// (values stay unrotated). nullptr when keys are cached rotated.
  const RopeTable* key_rope = nullptr;
};

/// Runs the step. q is [batch][groups][heads_per_group][qk_width] (RoPE already applied to the
/// query), out is [batch][groups][heads_per_group][v_width]. `threads` <= 0 means all cores.
/// Throws InputError on inconsistent sizes (zero tokens, strides narrower than the widths).
/// Whether decode_attention on `path` rounds the pre-scaled query q * scale * log2(e) to bf16
/// (the AVX512-BF16 dot product over a bf16 cache pairs query elements; an odd last element stays
/// float), so that a test's double reference can apply the same rounding and keep a float32
/// tolerance.
bool decode_rounds_query_to_bf16(const DecodeProblem& p, KernelPath path);

void decode_attention(const DecodeProblem& p, const float* q, float* out, int threads = 0,
                      KernelPath path = KernelPath::kAuto);

/// A whole attention layer decoding token by token in float32 with its minimal cache stored in
/// fp32 or bf16 (weights are rounded to float; with a bf16 cache the cached vectors are rounded
/// to bf16). Mirrors reference_forward's decode form, with the attention step done by
/// decode_attention. GQA/MQA/MHA, MLA (absorbed), MFA, MFA-KR and FPBA.
class FastDecoder {
 public:
  /// Throws InputError when the weights do not match their shape. `max_tokens` sizes the cache.
  FastDecoder(const LayerWeights& w, const LayerOptions& o, int64_t max_tokens, CacheDType dtype,
              int threads = 1, KernelPath path = KernelPath::kAuto);
  ~FastDecoder();
  FastDecoder(const FastDecoder&) = delete;
  FastDecoder& operator=(const FastDecoder&) = delete;

  /// Appends token x (d floats) at the next position and returns its output row (d floats).
  std::vector<float> step(const float* x);
  /// Decodes every row of x ([T, d]) in order; returns [T, d].
  MatrixRM run(const MatrixRM& x);
  /// Tokens cached so far and the bytes the cache holds for them.
  int64_t tokens() const;
  int64_t cache_bytes() const;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace gmha
