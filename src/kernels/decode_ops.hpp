#pragma once
// Private: the three block operations of the decode kernel, in a portable, an AVX2+FMA and an
// AVX-512 version. A block is up to kDecodeBlock cached tokens; heads are processed in chunks of up to
// 64 (four 16-lane vectors). Scores live in S[token][hp] (heads contiguous, hp a multiple of 16),
// already in log2 units: the query is pre-scaled by scale * log2(e) so softmax uses exp2.
#include <cstdint>
#include <string>

#include "gmha/core/float_formats.hpp"

namespace gmha {
struct DecodeProblem;
enum class KernelPath;
}

namespace gmha::detail {

inline constexpr int64_t kDecodeBlock = 48;  // a multiple of the 6-token qk tile
inline constexpr int64_t kHeadChunk = 64;

struct QueryPack {
  const float* qt = nullptr;        // [qk_width][hp], transposed, scaled, zero-padded heads
  const uint32_t* qt_bf16 = nullptr;  // [qk_width / 2][hp] bf16 pairs (AVX512-BF16 path only)
  // [hp / 16][qk_width][16]: Q^T in slices of 16 heads, each slice contiguous (AVX2 path only).
  // Rows of qt are hp floats apart, a power of two times 64 bytes, so one slice of qt maps to a
  // quarter of the L1 sets or less and cannot stay in L1; a contiguous slice can.
  const float* qt16 = nullptr;
  int64_t hp = 0;                   // padded head count
};

/// The next block's cache rows, which the SIMD kernels pull into L2 a few lines per tile while
/// the current block computes: the hardware prefetchers miss the strided row segments, and a
/// burst of prefetches at block start would stall on the miss buffers. Two ranges (K, V), each
/// `rows` segments of `bytes` bytes, `stride` bytes apart. Kernels without it ignore it.
struct PrefetchCursor {
  struct Range {
    const char* base = nullptr;
    int64_t rows = 0, stride = 0, bytes = 0;
  };
  Range range[2];
  int current = 0;     // range being issued
  int64_t row = 0;     // segment within it
  int64_t offset = 0;  // bytes from the segment's 64-byte-aligned start
};

struct BlockOps {
  /// S[j][h0 .. h0 + round16(nh)) = K[j] . Q[h] for j < nb; K rows are `depth` wide.
  void (*qk)(const QueryPack& q, int64_t h0, int64_t nh, const void* k, bool k_bf16, int64_t k_stride,
             int64_t nb, int64_t depth, float* s, int64_t s_stride, PrefetchCursor* pf);
  /// Online softmax update of heads [h0, h0 + nh16): running max m, sum l; S becomes P (exp2 of
  /// S - new max) and alpha[h] = exp2(old max - new max) rescales the accumulated output.
  void (*softmax)(float* s, int64_t s_stride, int64_t h0, int64_t nh16, int64_t nb, float* m, float* l,
                  float* alpha);
  /// O[h][0..vw) = O[h] * alpha[h] + sum_j P[j][h] V[j] for heads [h0, h0 + nh).
  void (*pv)(const float* s, int64_t s_stride, int64_t h0, int64_t nh, const void* v, bool v_bf16,
             int64_t v_stride, int64_t nb, int64_t vw, float* o, int64_t o_stride, const float* alpha,
             PrefetchCursor* pf);
  bool uses_bf16_pairs = false;  // qk reads qt_bf16 for bf16 keys
  bool uses_query_slices = false;  // qk reads qt16
  // A bf16 cache's K (V) block is widened to float once, before qk (pv), for streams with at
  // least this many query heads; kNever: the ops read bf16 themselves.
  int64_t widen_keys_min_heads = kNever;
  int64_t widen_values_min_heads = kNever;
  // K rows of one stream that are not contiguous (GQA: the groups interleave within a token's
  // row) are copied to a contiguous float block before qk. Rows a multiple of 4 KiB apart map to
  // one L1 set, and a 12-row tile then misses L1 on every depth step.
  bool stages_strided_keys = false;
  static constexpr int64_t kNever = INT64_MAX;
};

// From this many query heads per KV stream a step is compute-bound on a CPU (each cached element
// feeds >= 32 FMAs). On AVX-512 a bf16 block is then widened once to float so the fp32 register
// tiles run: converting inside the tiles, or vdpbf16ps (one port), measured 15-35% slower than
// fp32 there. Below it the step is memory-bound and the AVX-512 tiles read bf16 directly.
inline constexpr int64_t kWidenMinHeads = 16;

const BlockOps& portable_block_ops();
/// nullptr when the CPU (or compiler) lacks AVX-512; `bf16_dot` asks for the AVX512-BF16 qk.
const BlockOps* avx512_block_ops(bool bf16_dot);
bool cpu_has_avx512();
/// nullptr when the CPU (or compiler) lacks AVX2 and FMA.
const BlockOps* avx2_block_ops();
bool cpu_has_avx2();
bool cpu_has_avx512_bf16();

/// CUDA (cuda_dispatch.cpp): whether the build has it, devices found, and the step on the GPU
/// (throws DeviceError without CUDA or a device; see gmha/kernels/cuda_decode.hpp).
bool cuda_built();
int cuda_devices();
void cuda_decode_attention(const DecodeProblem& p, const float* q, float* out);

/// What decode_attention runs for `p` on `path` (a CPU path): e.g. "avx2, bf16 keys widened".
std::string decode_kernel_description(const DecodeProblem& p, KernelPath path);

}  // namespace gmha::detail
