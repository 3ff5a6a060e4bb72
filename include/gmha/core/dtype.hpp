#pragma once
// Element types: the storage dtypes of checkpoints and the KV-cache dtypes of designs.
// Sizes are in bits because int4 is half a byte; byte counts are derived exactly from bits.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gmha {

enum class DType {
  kF64,
  kF32,
  kF16,
  kBF16,
  kF8E4M3,  // OCP E4M3FN: no infinities, NaN = S.1111.111
  kF8E5M2,
  kI8,
  kU8,
  kI16,
  kI32,
  kI64,
  kBool,
  kInt4,
  // OCP microscaling element types (safetensors F4, F6_E2M3, F6_E3M2, F8_E8M0): checkpoint
  // storage only, never a KV-cache dtype.
  kF4E2M1,   // 1 sign, 2 exponent (bias 1), 1 mantissa: ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}
  kF6E2M3,   // bias 1, max 7.5
  kF6E3M2,   // bias 3, max 28
  kF8E8M0,   // scale: 2^(e - 127), 0xff NaN
};

/// Bits per element (int4: 4).
int dtype_bits(DType t);
/// Canonical lower-case name used in designs and output: fp32, bf16, fp16, fp8, int8, int4, ...
std::string_view dtype_name(DType t);
/// Parses a KV-cache dtype name (fp32|f32|float32, bf16, fp16|f16, fp8|f8|e4m3, int8, int4).
std::optional<DType> find_kv_dtype(std::string_view name);
/// Parses a KV dtype or throws InputError naming `where` and listing the valid names.
DType read_kv_dtype(std::string_view name, const std::string& where);
/// How a layer's cache row is laid out (docs/capacity.md, "KV cache layouts"). kElements: every
/// cached element in the layer's KV dtype. kFp8DsMla: vLLM's `fp8_ds_mla` row for a 512-wide MLA
/// latent + 64-wide RoPE key (vllm-project/vllm, vllm/v1/attention/backends/mla/flashmla_sparse.py,
/// "FP8 with scale"): the latent in fp8 (e4m3) with one fp32 scale per 128 values, the RoPE key
/// in bf16: 512 + 16 + 128 = 656 B per row. Its KV dtype is the latent's, fp8.
enum class KvLayout { kElements, kFp8DsMla };
/// What `--kv-dtype` and `kv_dtype=` name: an element dtype, or a layout with its dtype.
struct KvCacheType {
  DType dtype = DType::kBF16;
  KvLayout layout = KvLayout::kElements;
};
/// Parses a KV cache type: the KV dtypes of find_kv_dtype, or `fp8_ds_mla`.
std::optional<KvCacheType> find_kv_cache_type(std::string_view name);
/// Parses a KV cache type or throws InputError naming `where` and listing the valid names.
KvCacheType read_kv_cache_type(std::string_view name, const std::string& where);
/// The name every output prints for a layer's KV cache: `fp8_ds_mla`, else dtype_name(dtype).
std::string_view kv_cache_type_name(DType dtype, KvLayout layout);
/// Unit roundoff u of a floating dtype (f32 2^-24, f16 2^-11, bf16 2^-8, e4m3 2^-4, e5m2 2^-3;
/// the MX elements e2m1 2^-2, e2m3 2^-4, e3m2 2^-3, e8m0 1/3: a power of two is within a third).
double unit_roundoff(DType t);

}  // namespace gmha
