#pragma once
// Private to the bridge area: GGUF metadata that varies per layer (llama.cpp writes these as
// arrays, or as one value for every layer), applied to the model read from a GGUF header
// (checkpoint_model.cpp). docs/model_defaults.md, "GGUF files":
//   <arch>.attention.head_count[_kv]  [L]  heads / KV heads per layer; 0 = a layer without attention
//   <arch>.feed_forward_length        [L]  FFN width per layer; 0 = no FFN
//   <arch>.attention.sliding_window_pattern  [L] bools (true = sliding) or a period p
//   <arch>.attention.shared_kv_layers  N   the last N layers read an earlier layer's cache
#include <nlohmann/json.hpp>

#include <string>

#include "gmha/attention/model.hpp"

namespace gmha::gguf_layers {

/// True when the metadata holds any of the per-layer keys above.
bool has_per_layer_metadata(const nlohmann::json& metadata);
/// The metadata with each per-layer array replaced by one stand-in value, so that the one-value
/// header reader (hf_config_from_gguf) can build the uniform model that apply() then corrects.
nlohmann::json with_scalar_layers(const nlohmann::json& metadata);
/// Sets each layer's heads, KV heads, FFN width, fill rule and cache source from the metadata.
/// Throws InputError naming the file and key on a wrong length or impossible value.
void apply(const nlohmann::json& metadata, ModelDesign& model, const std::string& where);

}  // namespace gmha::gguf_layers
