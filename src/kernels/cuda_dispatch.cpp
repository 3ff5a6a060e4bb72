// KernelPath::kCuda and the device-resident cache (gmha/kernels/cuda_decode.hpp): wraps the
// plain-typed API of src/kernels/cuda/decode_attention.cuh when the build has it
// (GMHA_HAVE_CUDA, set by src/kernels/cuda/sources.cmake); without it every entry point throws
// DeviceError. Bad shapes are InputError (exit 2); a missing or failing device DeviceError.
#include <fmt/format.h>

#include <cstring>
#include <vector>

#include "decode_ops.hpp"
#include "gmha/core/error.hpp"
#include "gmha/kernels/cuda_decode.hpp"
#include "gmha/kernels/decode.hpp"

#ifdef GMHA_HAVE_CUDA
#include "cuda/decode_attention.cuh"
#endif

namespace gmha {

bool cuda_built() {
#ifdef GMHA_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() {
#ifdef GMHA_HAVE_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

namespace {

void check_spec(const CudaCacheSpec& s) {
  if (s.dtype != DType::kF32 && s.dtype != DType::kBF16) {
    throw InputError(fmt::format("CUDA cache: a {} cache is not supported (fp32, bf16)",
                                 dtype_name(s.dtype)));
  }
  const char* where = "CUDA cache";
  if (s.batch < 1) throw errors::not_positive(where, "batch", s.batch);
  if (s.groups < 1) throw errors::not_positive(where, "groups", s.groups);
  if (s.heads_per_group < 1)
    throw errors::not_positive(where, "heads_per_group", s.heads_per_group);
  if (s.qk_width < 1) throw errors::not_positive(where, "qk_width", s.qk_width);
  if (s.v_width < 1) throw errors::not_positive(where, "v_width", s.v_width);
  if (s.max_tokens < 1) throw errors::not_positive(where, "max_tokens", s.max_tokens);
  if (s.v_aliases_k && s.v_width > s.qk_width) {
    throw InputError(fmt::format("CUDA cache: aliased values ({} wide) exceed the key row ({})",
                                 s.v_width, s.qk_width));
  }
  if (s.v_width > 1024)
    throw InputError(fmt::format("CUDA decode: value width {} above 1024", s.v_width));
  if (s.kernel == CudaKernel::kV2 && s.v_width > 512) {
    throw InputError(
        fmt::format("CUDA decode: kernel v2 takes values up to 512 wide (got {})", s.v_width));
  }
  if (s.key_rope && s.key_rope->enabled &&
      (s.key_rope->dim > s.qk_width || s.key_rope->dim % 2 != 0)) {
    throw InputError(fmt::format("CUDA cache: key RoPE width {} does not fit keys {} wide",
                                 s.key_rope->dim, s.qk_width));
  }
}

}  // namespace

#ifdef GMHA_HAVE_CUDA

struct CudaDecodeCache::Impl {
  CudaCacheSpec spec;
  RopeTable rope;  // copy of *spec.key_rope
  cuda::DeviceCache* c = nullptr;
  std::vector<unsigned char> k_pack, v_pack;
  ~Impl() { cuda::cache_destroy(c); }
};

CudaDecodeCache::CudaDecodeCache(const CudaCacheSpec& spec) : impl_(std::make_unique<Impl>()) {
  check_spec(spec);
  if (cuda::device_count() == 0) throw DeviceError("CUDA: no device found");
  Impl& m = *impl_;
  m.spec = spec;
  cuda::CacheSpec s;
  s.batch = spec.batch;
  s.groups = spec.groups;
  s.heads_per_group = spec.heads_per_group;
  s.qk_width = spec.qk_width;
  s.v_width = spec.v_width;
  s.max_tokens = spec.max_tokens;
  s.scale = spec.scale;
  s.bf16 = spec.dtype == CacheDType::kBF16 ? 1 : 0;
  s.v_aliases_k = spec.v_aliases_k ? 1 : 0;
  if (spec.key_rope && spec.key_rope->enabled) {
    m.rope = *spec.key_rope;
    m.spec.key_rope = &m.rope;
    s.rope_dim = static_cast<int>(m.rope.dim);
    s.rope_interleaved = m.rope.style == RopeStyle::kInterleaved ? 1 : 0;
    s.rope_attention_factor = m.rope.attention_factor;
    s.inv_freq = m.rope.inv_freq.data();
  } else {
    m.spec.key_rope = nullptr;
  }
  switch (spec.kernel) {
    case CudaKernel::kAuto:
      s.version = cuda::kAutoKernel;
      break;
    case CudaKernel::kNaive:
      s.version = cuda::kNaive;
      break;
    case CudaKernel::kV1:
      s.version = cuda::kV1;
      break;
    case CudaKernel::kV2:
      s.version = cuda::kV2;
      break;
  }
  char err[512] = {0};
  if (cuda::cache_create(s, &m.c, err, sizeof err) != 0) throw DeviceError(err);
}

CudaDecodeCache::~CudaDecodeCache() = default;

void CudaDecodeCache::append(int64_t n, const void* k, int64_t kbs, int64_t kgs, int64_t krs,
                             const void* v, int64_t vbs, int64_t vgs, int64_t vrs) {
  Impl& m = *impl_;
  const CudaCacheSpec& s = m.spec;
  if (n < 1) throw errors::not_positive("CUDA cache append", "tokens", n);
  if (tokens() + n > s.max_tokens)
    throw InputError(fmt::format("CUDA cache: full ({} tokens)", s.max_tokens));
  if (!k || (!s.v_aliases_k && !v))
    throw InputError("CUDA cache append: missing key or value rows");
  const size_t es = static_cast<size_t>(cache_dtype_bytes(s.dtype));
  // Pack [batch][groups][n][width] so the device copy is one 2-D memcpy per stream.
  auto pack = [&](std::vector<unsigned char>& dst, const void* src, int64_t width, int64_t bs,
                  int64_t gs, int64_t rs) {
    dst.resize(static_cast<size_t>(s.batch * s.groups * n * width) * es);
    unsigned char* d = dst.data();
    const auto* base = static_cast<const unsigned char*>(src);
    for (int64_t b = 0; b < s.batch; ++b) {
      for (int64_t g = 0; g < s.groups; ++g) {
        for (int64_t j = 0; j < n; ++j) {
          std::memcpy(d, base + static_cast<size_t>(b * bs + g * gs + j * rs) * es,
                      static_cast<size_t>(width) * es);
          d += static_cast<size_t>(width) * es;
        }
      }
    }
  };
  pack(m.k_pack, k, s.qk_width, kbs, kgs, krs);
  if (!s.v_aliases_k) pack(m.v_pack, v, s.v_width, vbs, vgs, vrs);
  char err[512] = {0};
  if (cuda::cache_append(m.c, n, m.k_pack.data(), s.v_aliases_k ? nullptr : m.v_pack.data(), err,
                         sizeof err) != 0) {
    throw DeviceError(err);
  }
}

void CudaDecodeCache::decode(const float* q, float* out) {
  char err[512] = {0};
  if (tokens() < 1) throw InputError("CUDA cache: decode before any token was appended");
  if (cuda::cache_decode(impl_->c, q, out, err, sizeof err) != 0) throw DeviceError(err);
}

double CudaDecodeCache::time_decode(int reps) {
  char err[512] = {0};
  double sec = 0;
  if (tokens() < 1) throw InputError("CUDA cache: nothing cached to time");
  if (cuda::cache_time(impl_->c, reps, &sec, err, sizeof err) != 0) throw DeviceError(err);
  return sec;
}

int64_t CudaDecodeCache::tokens() const { return cuda::cache_tokens(impl_->c); }
std::string CudaDecodeCache::kernel_name() const { return cuda::cache_kernel_name(impl_->c); }

#else  // no CUDA in this build

struct CudaDecodeCache::Impl {
  CudaCacheSpec spec;
};

CudaDecodeCache::CudaDecodeCache(const CudaCacheSpec& spec) : impl_(std::make_unique<Impl>()) {
  check_spec(spec);
  throw DeviceError(
      "CUDA: this gmha was built without CUDA (configure with nvcc on PATH)");
}
CudaDecodeCache::~CudaDecodeCache() = default;
void CudaDecodeCache::append(int64_t, const void*, int64_t, int64_t, int64_t, const void*, int64_t,
                             int64_t, int64_t) {}
void CudaDecodeCache::decode(const float*, float*) {}
double CudaDecodeCache::time_decode(int) { return 0; }
int64_t CudaDecodeCache::tokens() const { return 0; }
std::string CudaDecodeCache::kernel_name() const { return "none"; }

#endif

const CudaCacheSpec& CudaDecodeCache::spec() const { return impl_->spec; }

namespace detail {

bool cuda_built() { return gmha::cuda_built(); }
int cuda_devices() { return cuda_device_count(); }

namespace {
CudaCacheSpec spec_for(const DecodeProblem& p, int64_t max_tokens) {
  CudaCacheSpec s;
  s.batch = p.batch;
  s.groups = p.groups;
  s.heads_per_group = p.heads_per_group;
  s.qk_width = p.qk_width;
  s.v_width = p.v_width;
  s.max_tokens = max_tokens;
  s.scale = p.scale;
  s.dtype = p.dtype;
  s.v_aliases_k = p.v == p.k && p.v_row_stride == p.k_row_stride &&
                  p.v_group_stride == p.k_group_stride && p.v_batch_stride == p.k_batch_stride;
  s.key_rope = p.key_rope && p.key_rope->enabled ? p.key_rope : nullptr;
  return s;
}
}  // namespace

// One-shot step (decode_attention with KernelPath::kCuda): a cache sized to this context, the
// whole context appended, one step. FastDecoder and the benches keep a cache instead.
void cuda_decode_attention(const DecodeProblem& p, const float* q, float* out) {
  CudaDecodeCache c(spec_for(p, p.tokens));
  c.append(p.tokens, p.k, p.k_batch_stride, p.k_group_stride, p.k_row_stride, p.v, p.v_batch_stride,
           p.v_group_stride, p.v_row_stride);
  c.decode(q, out);
}

}  // namespace detail
}  // namespace gmha
