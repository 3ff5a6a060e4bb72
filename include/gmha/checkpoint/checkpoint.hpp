#pragma once
// One entry point for every checkpoint format. open_checkpoint() detects the format from the path
// and the file's first bytes, and returns a uniform tensor source in Hugging Face names
// (model.layers.N.self_attn.q_proj.weight, ...) plus an HF-style config, so the layout detector,
// the audit and the kernels never look at file formats.
//
// GGUF (llama family) and llama2.c store q/k rows with rotary on adjacent pairs; HF Llama uses
// rotate_half. The HF-named view applies HF's permutation within each head (HF row j*h/2 + i =
// stored row 2i + j), so every copy of a model yields the same tensors. The permutation is inside
// a head and does not change per-head ranks (docs/formats.md).
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "gmha/checkpoint/tensor_source.hpp"

namespace gmha {

struct Checkpoint {
  std::string path;          // as given
  std::string format;        // "safetensors", "gguf" or "llama2c"
  std::string architecture;  // HF model_type: "llama", "qwen2", "deepseek_v3", "step3", ...
  nlohmann::json config;     // config.json, or one built from GGUF metadata / the llama2.c header
  std::shared_ptr<const TensorSource> tensors;  // HF names, HF row order
  std::shared_ptr<const TensorSource> stored;   // the file's own names and row order
};

/// Opens a safetensors file or folder, a .gguf or a llama2.c .bin. Throws InputError naming the
/// path when the format is unknown or the file is malformed.
Checkpoint open_checkpoint(const std::string& path);

/// As above, but the config comes from the config.json at `config_path` (a lone .safetensors file
/// with its config elsewhere, or an explicit override of the folder's / the format's own config);
/// the architecture follows its model_type (text_config's for multimodal wrappers). Throws
/// InputError naming `config_path` when it cannot be read or is not a JSON object.
Checkpoint open_checkpoint(const std::string& path, const std::string& config_path);

/// HF config (model_type llama, qwen2, qwen3, qwen2_moe, qwen3_moe, gemma3_text) built from GGUF
/// metadata; `where` names the file.
/// Throws InputError naming the missing key or an architecture it cannot map.
nlohmann::json hf_config_from_gguf(const nlohmann::json& metadata, const std::string& where);

}  // namespace gmha
