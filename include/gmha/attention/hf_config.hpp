#pragma once
// Hugging Face config.json -> ModelDesign. Supported model_type: llama, mistral, mixtral, qwen2,
// qwen2_moe, qwen3, qwen3_moe, deepseek_v2, deepseek_v3, kimi_k2, step3 / step3_vl / step3_text,
// llama4 / llama4_text, minimax / minimax_m1, ernie4_5 / ernie4_5_moe, gemma / gemma2 / gemma3 /
// gemma3_text, and the 2025-2026 families gpt_oss, qwen3_next, qwen3_5 / qwen3_5_moe, glm4_moe,
// minimax_m2, olmo2, deepseek_v32, the 2026 ones gemma4 / gemma4_text, mimo_v2_flash, step3p5,
// mistral3 / ministral3, qwen2_5_vl, and the hybrids nemotron_h, nemotron-nas, lfm2 / lfm2_vl,
// jamba, hunyuan (docs/model_defaults.md). Nested text_config is followed.
// An unknown model_type, a missing field, or a key that changes the architecture in a way the
// family's reader does not model is an InputError naming the file and the type, field or key.
// Python's Infinity / NaN literals are read as null.
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "gmha/attention/model.hpp"

namespace gmha {

/// Reads a config.json file, or the config.json inside a model folder.
ModelDesign read_hf_config(const std::string& path);
/// Parses an already-loaded config; `where` names it in errors.
ModelDesign model_from_hf_config(const nlohmann::json& config, const std::string& where);

}  // namespace gmha
