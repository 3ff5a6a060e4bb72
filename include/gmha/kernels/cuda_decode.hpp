#pragma once
// Decode attention on a CUDA device with the KV cache resident there: allocated once for
// max_tokens, appended a token (or a prefix) at a time, each step copying only the new token's
// rows in and the output out. Kernels: src/kernels/cuda/decode_attention.cuh (v0 naive,
// v1 split-K CUDA cores, v2 bf16 tensor cores). Without CUDA in the build every constructor
// throws DeviceError (gmha/core/error.hpp, exit code 4).
#include <cstdint>
#include <memory>
#include <string>

#include "gmha/core/error.hpp"
#include "gmha/kernels/decode.hpp"
#include "gmha/kernels/rope.hpp"

namespace gmha {

/// Which kernel decodes: kAuto picks v2 for a bf16 cache with values <= 512 wide, else v1.
enum class CudaKernel { kAuto, kNaive, kV1, kV2 };

/// Whether this build has the CUDA kernels, and how many devices the driver reports.
bool cuda_built();
int cuda_device_count();

/// The geometry of a device cache. K rows are qk_width wide; V rows v_width wide, or (with
/// v_aliases_k) the first v_width columns of the K row (MLA's latent, MFA-KR's pre-RoPE key).
struct CudaCacheSpec {
  int64_t batch = 1, groups = 1, heads_per_group = 1, qk_width = 0, v_width = 0, max_tokens = 0;
  double scale = 1.0;
  CacheDType dtype = CacheDType::kBF16;
  bool v_aliases_k = false;
  const RopeTable* key_rope = nullptr;  // MFA-KR: keys cached before RoPE (copied, not kept)
  CudaKernel kernel = CudaKernel::kAuto;
};

class CudaDecodeCache {
 public:
  /// Allocates the cache on device 0. Throws InputError for an impossible spec, DeviceError
  /// when there is no device or it refuses.
  explicit CudaDecodeCache(const CudaCacheSpec& spec);
  ~CudaDecodeCache();
  CudaDecodeCache(const CudaDecodeCache&) = delete;
  CudaDecodeCache& operator=(const CudaDecodeCache&) = delete;

  /// Appends n tokens. Element (b, g, j, i) of the new keys is at
  /// k + b*k_batch_stride + g*k_group_stride + j*k_row_stride + i (elements of the cache dtype:
  /// float for fp32, uint16_t bf16 bits for bf16); the same for v (ignored when V aliases K).
  void append(int64_t n, const void* k, int64_t k_batch_stride, int64_t k_group_stride,
              int64_t k_row_stride, const void* v = nullptr, int64_t v_batch_stride = 0,
              int64_t v_group_stride = 0, int64_t v_row_stride = 0);
  /// One step over every cached token: q [batch][groups][heads][qk] fp32 (RoPE applied),
  /// out [batch][groups][heads][v_width] fp32. Synchronous.
  void decode(const float* q, float* out);
  /// Median seconds of `reps` back-to-back decode steps on the device (CUDA events), after a
  /// decode() uploaded q.
  double time_decode(int reps);
  int64_t tokens() const;
  const CudaCacheSpec& spec() const;
  /// "v2 (split-K, bf16 mma.sync m16n8k16)", ...
  std::string kernel_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gmha
