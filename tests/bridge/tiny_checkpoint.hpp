#pragma once
// Hand-built Hugging Face folders for the `gmha attention` tests: a config.json and one
// model.safetensors (F32) holding random Llama/Qwen-style attention layers whose values are
// float-exact, so the file and the in-memory HfLlamaLayer hold the same numbers.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gmha/attention/variant.hpp"
#include "gmha/bridge/synth.hpp"
#include "bridge/hf_attention_loops.hpp"

namespace gmha::test {

/// Random layer: weights N(0, 1/fan_in), biases N(0, 0.1) when `bias`, o_proj bias when
/// `o_bias`, per-head q/k norms and the input norm 1 + U(-0.25, 0.25) (q/k norms when `qk_norm`).
HfLlamaLayer random_hf_layer(int64_t d, int64_t heads, int64_t kv_heads, int64_t head_dim,
                             uint64_t seed, bool bias, bool o_bias, bool qk_norm);

/// Writes `config` to `config_dir`/config.json (skipped when config_dir is empty) and the layers
/// under model.layers.N.{input_layernorm,self_attn.*} to `weights_dir`/model.safetensors.
void write_hf_folder(const std::string& weights_dir, const std::string& config_dir,
                     const nlohmann::json& config, const std::vector<HfLlamaLayer>& layers);

/// Random float-exact x [T, d], N(0, 1), row-major.
std::vector<double> random_tokens(int64_t tokens, int64_t d, uint64_t seed);

/// A `gmha synth` folder (F32, vocab 64) of `layers` layers in a fresh scratch folder named after
/// `tag`, deterministic from `seed`.
std::string synth_f32_folder(const std::string& tag, SynthLayout layout, const AttentionShape& shape,
                             int64_t layers, uint64_t seed);

/// Reads, edits and rewrites `dir`/config.json.
void edit_config(const std::string& dir, const nlohmann::json& patch);

}  // namespace gmha::test
