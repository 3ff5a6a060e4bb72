#pragma once
// Private: the three block operations of the decode kernel, in a portable and an AVX-512
// version. A block is up to kDecodeBlock cached tokens; heads are processed in chunks of up to
// 64 (four 16-lane vectors). Scores live in S[token][hp] (heads contiguous, hp a multiple of 16),
// already in log2 units: the query is pre-scaled by scale * log2(e) so softmax uses exp2.
#include <cstdint>

namespace gmha {
struct DecodeProblem;
}

namespace gmha::detail {

inline constexpr int64_t kDecodeBlock = 48;  // a multiple of the 6-token qk tile
inline constexpr int64_t kHeadChunk = 64;

struct QueryPack {
  const float* qt = nullptr;        // [qk_width][hp], transposed, scaled, zero-padded heads
  const uint32_t* qt_bf16 = nullptr;  // [qk_width / 2][hp] bf16 pairs (AVX512-BF16 path only)
  int64_t hp = 0;                   // padded head count
};

struct BlockOps {
  /// S[j][h0 .. h0 + round16(nh)) = K[j] . Q[h] for j < nb; K rows are `depth` wide.
  void (*qk)(const QueryPack& q, int64_t h0, int64_t nh, const void* k, bool k_bf16, int64_t k_stride,
             int64_t nb, int64_t depth, float* s, int64_t s_stride);
  /// Online softmax update of heads [h0, h0 + nh16): running max m, sum l; S becomes P (exp2 of
  /// S - new max) and alpha[h] = exp2(old max - new max) rescales the accumulated output.
  void (*softmax)(float* s, int64_t s_stride, int64_t h0, int64_t nh16, int64_t nb, float* m, float* l,
                  float* alpha);
  /// O[h][0..vw) = O[h] * alpha[h] + sum_j P[j][h] V[j] for heads [h0, h0 + nh).
  void (*pv)(const float* s, int64_t s_stride, int64_t h0, int64_t nh, const void* v, bool v_bf16,
             int64_t v_stride, int64_t nb, int64_t vw, float* o, int64_t o_stride, const float* alpha);
  bool uses_bf16_pairs = false;  // qk reads qt_bf16 for bf16 keys
};

const BlockOps& portable_block_ops();
/// nullptr when the CPU (or compiler) lacks AVX-512; `bf16_dot` asks for the AVX512-BF16 qk.
const BlockOps* avx512_block_ops(bool bf16_dot);
bool cpu_has_avx512();
bool cpu_has_avx512_bf16();

/// CUDA (cuda_dispatch.cpp): whether the build has it, devices found, and the step on the GPU
/// (throws InputError without CUDA or a device).
bool cuda_built();
int cuda_devices();
void cuda_decode_attention(const DecodeProblem& p, const float* q, float* out);

inline float bf16_bits_to_float(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

}  // namespace gmha::detail
