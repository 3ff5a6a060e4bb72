// KernelPath::kCuda: hands a DecodeProblem to the CUDA kernels (src/kernels/cuda/) when the
// build has them (GMHA_HAVE_CUDA, set by src/kernels/cuda/sources.cmake), else an InputError.
#include <fmt/format.h>

#include "decode_ops.hpp"
#include "gmha/core/error.hpp"
#include "gmha/kernels/decode.hpp"

#ifdef GMHA_HAVE_CUDA
#include "cuda/decode_attention.cuh"
#endif

namespace gmha::detail {

bool cuda_built() {
#ifdef GMHA_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_devices() {
#ifdef GMHA_HAVE_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

void cuda_decode_attention(const DecodeProblem& p, const float* q, float* out) {
#ifdef GMHA_HAVE_CUDA
  if (cuda::device_count() == 0) throw InputError("--device cuda: no CUDA device found");
  cuda::DecodeArgs a;
  a.batch = p.batch;
  a.groups = p.groups;
  a.heads_per_group = p.heads_per_group;
  a.qk_width = p.qk_width;
  a.v_width = p.v_width;
  a.tokens = p.tokens;
  a.scale = p.scale;
  a.bf16 = p.dtype == CacheDType::kBF16 ? 1 : 0;
  a.k_batch_stride = p.k_batch_stride;
  a.k_group_stride = p.k_group_stride;
  a.k_row_stride = p.k_row_stride;
  a.v_batch_stride = p.v_batch_stride;
  a.v_group_stride = p.v_group_stride;
  a.v_row_stride = p.v_row_stride;
  if (p.key_rope && p.key_rope->enabled) {
    a.rope_dim = static_cast<int>(p.key_rope->dim);
    a.rope_interleaved = p.key_rope->style == RopeStyle::kInterleaved ? 1 : 0;
    a.rope_attention_factor = p.key_rope->attention_factor;
    a.inv_freq = p.key_rope->inv_freq.data();
  }
  if (p.v_width > 1024) throw InputError(fmt::format("--device cuda: value width {} above 1024", p.v_width));
  char err[256] = {0};
  if (cuda::decode_attention_host(a, p.k, p.v, q, out, err, sizeof err) != 0) throw InputError(err);
#else
  (void)p;
  (void)q;
  (void)out;
  throw InputError("--device cuda: this gmha was built without CUDA (configure with nvcc on PATH)");
#endif
}

}  // namespace gmha::detail
