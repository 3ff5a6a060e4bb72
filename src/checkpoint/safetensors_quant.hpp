#pragma once
// Internal: quantized weight schemes stored in safetensors as several tensors (packed codes plus
// scales, zeros, ...). find_quant_schemes() recognises them from names, dtypes, shapes and
// config.json's quantization_config, checks every shape against the others, and describes one
// logical [out, in] float tensor per group under the original name (X.weight, or X for gpt-oss
// experts); decode_quant_rows() dequantises rows of it from the mapped parts. docs/formats.md
// gives each layout with its source.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gmha/checkpoint/mapped_file.hpp"
#include "gmha/checkpoint/tensor_source.hpp"

namespace gmha::detail {

enum class QuantKind {
  kMxfp4,    // gpt-oss: X_blocks U8 [..., G, 16] + X_scales U8 E8M0 [..., G]
  kNvfp4,    // ModelOpt: weight U8 + weight_scale F8_E4M3 (per 16) + weight_scale_2 F32
  kNvfp4Ct,  // compressed-tensors nvfp4-pack-quantized: weight_packed + weight_scale +
             // weight_global_scale (divided)
  kGptq,     // qweight I32 [in/8, out], qzeros I32 [G, out/8], scales [G, out], g_idx [in]
  kAwq,      // qweight I32 [in, out/8] (order 0 2 4 6 1 3 5 7), qzeros [G, out/8], scales [G, out]
  kPacked,   // compressed-tensors pack-quantized int4/int8: weight_packed I32 [out, in/(32/b)]
};

/// One stored tensor a scheme reads (index into the source's stored list).
struct QuantPart {
  size_t index = SIZE_MAX;  // SIZE_MAX: absent (optional part)
  bool present() const { return index != SIZE_MAX; }
};

struct QuantScheme {
  QuantKind kind;
  TensorInfo info;  // the logical tensor: name, dtype label, [.., out, in] shape, parts
  QuantPart codes, scales, zeros, gidx, global;
  int64_t group = 0;           // input elements per scale (GPTQ/AWQ/packed; 16 NVFP4, 32 MXFP4)
  int bits = 4;                // packed integer width (GPTQ/AWQ 4; packed 4 or 8)
  bool zero_plus_one = false;  // GPTQ v1 checkpoints store zero - 1
};

/// The schemes found among `stored` (one safetensors source's tensors; `files[i]` maps tensor
/// i to its mapped file). Throws InputError naming the tensor when a group is inconsistent.
std::vector<QuantScheme> find_quant_schemes(const std::vector<TensorInfo>& stored,
                                            const nlohmann::json& config, const std::string& where);

/// Dequantises logical rows [begin, end) of `q` into `out` ((end - begin) * cols floats).
/// `bytes(i)` returns the whole mapped data of stored tensor i.
void decode_quant_rows(const QuantScheme& q, const std::vector<TensorInfo>& stored,
                       const std::vector<std::shared_ptr<const MappedFile>>& files,
                       const std::vector<size_t>& file_of, int64_t begin, int64_t end, float* out);

}  // namespace gmha::detail
