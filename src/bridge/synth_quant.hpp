#pragma once
// Internal to synth: the quantized storage of a planted-rank checkpoint (`synth --dtype`). The
// planted floats are generated as for BF16/F32, then stored the way the tools people download
// from store them: GGUF Q8_0 / Q4_K / Q4_K_M (llama.cpp's names, rotary row order and metadata),
// or safetensors MXFP4 (gpt-oss `_blocks`/`_scales`), NVFP4 (ModelOpt `weight`/`weight_scale`/
// `weight_scale_2`) and FP8 with 128x128 `weight_scale_inv` (DeepSeek). docs/formats.md.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gmha/checkpoint/gguf_writer.hpp"
#include "gmha/checkpoint/safetensors_writer.hpp"

namespace gmha::detail {

/// The synth storage dtypes: F32, BF16, Q8_0, Q4_K, Q4_K_M, MXFP4, NVFP4, FP8_BLOCK.
bool synth_dtype_known(const std::string& dtype);
/// Whether `dtype` is written as GGUF (Q8_0, Q4_K, Q4_K_M).
bool synth_dtype_is_gguf(const std::string& dtype);

/// The ggml type llama.cpp's Q4_K_M mix gives layer `layer`'s attn_v of a model of `layers`
/// layers (re-derived from llama-quant.cpp, docs/formats.md): Q6_K on the layers use_more_bits
/// picks (the first and last eighth, and every third between), else Q4_K, or Q5_K in a model
/// llama.cpp types as 70B (80 layers with grouped KV heads).
uint32_t q4_k_m_attn_v_type(int64_t layer, int64_t layers, bool llama_70b);

/// Replaces every 2-D float tensor of `tensors` (HF names) by the stored parts of `dtype` (MXFP4,
/// NVFP4, FP8_BLOCK), encoded from the planted floats when the writer reaches them (one tensor's
/// floats in memory); 1-D tensors stay BF16. Adds the format's quantization_config to `config`
/// and returns the extra files to write beside it (NVFP4: hf_quant_config.json). Throws
/// InputError naming a tensor whose row is not a whole number of the format's blocks.
std::map<std::string, std::string> quantize_safetensors(std::vector<TensorToWrite>& tensors,
                                                        nlohmann::ordered_json& config,
                                                        const std::string& dtype);

/// The GGUF of a llama-layout plan: tensors under llama.cpp's names (blk.N.attn_q.weight, ...),
/// q/k rows in llama.cpp's adjacent-pair rotary order (the inverse of the reader's permutation),
/// norms F32, projections in `dtype`'s types; `meta` gets the llama.* metadata the reader maps
/// back to a config. Throws InputError for another layout or a row that is not a whole number of
/// blocks (Q4_K and Q6_K need multiples of 256).
std::vector<GgufTensorToWrite> gguf_plan(const std::vector<TensorToWrite>& tensors,
                                         const nlohmann::ordered_json& config,
                                         const std::string& dtype, const std::string& label,
                                         std::vector<GgufKv>* meta);

}  // namespace gmha::detail
