// The vision tower beside a multimodal config's text stack (docs/model_defaults.md, "Vision
// towers"). Counted where the config determines every tensor: the Qwen3-VL / Qwen3.5 ViT, the
// Qwen2.5-VL ViT and Mistral 3's Pixtral encoder with its projector. Any
// other vision_config is reported as present but not counted (only the text stack is).
#include "gmha/core/checked.hpp"
#include "hf_fields.hpp"

namespace gmha::hf_detail {

namespace {

// Qwen3-VL / Qwen3.5 vision model (transformers Qwen3VLVisionModel): a Conv3d patch embedding
// with bias, learned position embeddings, `depth` blocks of LayerNorm, fused qkv with bias, proj
// with bias, LayerNorm and a 2-layer MLP with biases; then the patch merger (LayerNorm over the
// hidden width, fc1 over merge^2 patches, fc2 to out_hidden_size, both with biases) and one more
// merger per deepstack index, normalised after the shuffle. Rotary embeddings hold no weights.
int64_t qwen3_vl_vision(const Fields& v) {
  const int64_t h = req_pos(v, "hidden_size");
  const int64_t inter = req_pos(v, "intermediate_size");
  const int64_t depth = req_pos(v, "depth");
  const int64_t patch = req_pos(v, "patch_size");
  const int64_t temporal = positive(v, "temporal_patch_size", v.int_or("temporal_patch_size", 2));
  const int64_t channels = positive(v, "in_channels", v.int_or("in_channels", 3));
  const int64_t positions = req_pos(v, "num_position_embeddings");
  const int64_t out = req_pos(v, "out_hidden_size");
  const int64_t merge = positive(v, "spatial_merge_size", v.int_or("spatial_merge_size", 2));
  auto mul = [](std::initializer_list<int64_t> xs) {
    return checked_product(xs, "vision parameters");
  };
  auto add = [](int64_t a, int64_t b) { return checked_add(a, b, "vision parameters"); };
  const int64_t patch_embed = add(mul({channels, temporal, patch, patch, h}), h);
  const int64_t pos_embed = mul({positions, h});
  int64_t block = mul({4, h});                           // norm1, norm2: weight + bias
  block = add(block, add(mul({3, h, h}), mul({3, h})));  // qkv
  block = add(block, add(mul({h, h}), h));               // proj
  block = add(block, add(mul({inter, h}), inter));       // linear_fc1
  block = add(block, add(mul({h, inter}), h));           // linear_fc2
  const int64_t merged = mul({h, merge, merge});
  const int64_t fcs = add(add(mul({merged, merged}), merged), add(mul({out, merged}), out));
  const int64_t merger = add(mul({2, h}), fcs);
  const int64_t deepstack =
      mul({static_cast<int64_t>(
               v.opt_int_list("deepstack_visual_indexes").value_or(std::vector<int64_t>{}).size()),
           add(mul({2, merged}), fcs)});
  return add(add(add(patch_embed, pos_embed), mul({depth, block})), add(merger, deepstack));
}

// Qwen2.5-VL vision model (transformers Qwen2_5_VisionTransformerPretrainedModel): a Conv3d
// patch embedding without bias, no learned positions (2D RoPE), `depth` blocks of two RMSNorms,
// fused qkv with bias, proj with bias and a SwiGLU MLP with biases (gate, up: h -> I; down: I ->
// h); the merger normalises (RMSNorm over h) and maps merge^2 patches through two linears with
// biases to out_hidden_size. Window and full-attention blocks have the same weights.
int64_t qwen2_5_vl_vision(const Fields& v) {
  const int64_t h = req_pos(v, "hidden_size");
  const int64_t inter = req_pos(v, "intermediate_size");
  const int64_t depth = req_pos(v, "depth");
  const int64_t patch = req_pos(v, "patch_size");
  const int64_t temporal = positive(v, "temporal_patch_size", v.int_or("temporal_patch_size", 2));
  const int64_t channels = positive(v, "in_channels", v.int_or("in_channels", v.int_or("in_chans", 3)));
  const int64_t out = req_pos(v, "out_hidden_size");
  const int64_t merge = positive(v, "spatial_merge_size", v.int_or("spatial_merge_size", 2));
  auto mul = [](std::initializer_list<int64_t> xs) { return checked_product(xs, "vision parameters"); };
  auto add = [](int64_t a, int64_t b) { return checked_add(a, b, "vision parameters"); };
  const int64_t patch_embed = mul({channels, temporal, patch, patch, h});
  int64_t block = mul({2, h});                                 // norm1, norm2
  block = add(block, add(mul({3, h, h}), mul({3, h})));        // qkv
  block = add(block, add(mul({h, h}), h));                     // proj
  block = add(block, mul({2, add(mul({inter, h}), inter)}));   // gate_proj, up_proj
  block = add(block, add(mul({h, inter}), h));                 // down_proj
  const int64_t merged = mul({h, merge, merge});
  const int64_t merger = add(h, add(add(mul({merged, merged}), merged), add(mul({out, merged}), out)));
  return add(add(patch_embed, mul({depth, block})), merger);
}

// Pixtral vision encoder (transformers PixtralVisionModel) and Mistral 3's projector
// (Mistral3MultiModalProjector): a Conv2d patch embedding without bias, ln_pre (RMSNorm), and
// num_hidden_layers layers of two RMSNorms, q, k, v, o (h x h, no bias) and a SwiGLU MLP without
// biases; the projector normalises (RMSNorm over h), merges spatial_merge_size^2 patches
// (merging_layer, h * merge^2 -> h, no bias) and maps to the text width through linear_1 (h per
// vision_feature_layer) and linear_2, with biases when multimodal_projector_bias (false when
// omitted, Mistral3Config's default).
int64_t pixtral_mistral3_vision(const json& config, const Fields& v, const std::string& where) {
  const int64_t h = req_pos(v, "hidden_size");
  const int64_t inter = req_pos(v, "intermediate_size");
  const int64_t layers = req_pos(v, "num_hidden_layers");
  const int64_t patch = req_pos(v, "patch_size");
  const int64_t channels = positive(v, "num_channels", v.int_or("num_channels", 3));
  const Fields top(config, where);
  const int64_t merge = positive(top, "spatial_merge_size", top.int_or("spatial_merge_size", 2));
  const bool bias = top.bool_or("multimodal_projector_bias", false);
  int64_t feature_layers = 1;  // vision_feature_layer: one index (default -1), or a list of them
  if (top.has("vision_feature_layer") && config.at("vision_feature_layer").is_array()) {
    feature_layers = static_cast<int64_t>(config.at("vision_feature_layer").size());
  }
  if (!config.contains("text_config") || !config.at("text_config").is_object()) {
    throw errors::missing_field(where, "text_config");
  }
  const int64_t text = req_pos(Fields(config.at("text_config"), where + " (text_config)"), "hidden_size");
  auto mul = [](std::initializer_list<int64_t> xs) { return checked_product(xs, "vision parameters"); };
  auto add = [](int64_t a, int64_t b) { return checked_add(a, b, "vision parameters"); };
  const int64_t patch_conv = mul({channels, patch, patch, h});
  const int64_t layer = add(add(mul({2, h}), mul({4, h, h})), mul({3, h, inter}));
  const int64_t encoder = add(add(patch_conv, h), mul({layers, layer}));
  int64_t projector = add(h, mul({h, merge, merge, h}));
  projector = add(projector, add(mul({feature_layers, h, text}), bias ? text : 0));
  projector = add(projector, add(mul({text, text}), bias ? text : 0));
  return add(encoder, projector);
}

}  // namespace

int64_t vision_tower_params(const json& config, const std::string& where) {
  if (!config.contains("vision_config") || config.at("vision_config").is_null()) return 0;
  const json& vc = config.at("vision_config");
  if (!vc.is_object()) throw InputError(where + ": field 'vision_config' must be an object");
  const std::string type = vc.contains("model_type") && vc.at("model_type").is_string()
                               ? vc.at("model_type").get<std::string>()
                               : "";
  const Fields v(vc, where + " (vision_config)");
  if (type == "qwen3_vl" || type == "qwen3_vl_moe" || type == "qwen3_5" ||
      type == "qwen3_5_vision" || type == "qwen3_5_moe_vision") {
    return qwen3_vl_vision(v);
  }
  if (type == "qwen2_5_vl") return qwen2_5_vl_vision(v);
  const std::string top = config.contains("model_type") && config.at("model_type").is_string()
                              ? config.at("model_type").get<std::string>() : "";
  if (type == "pixtral" && top == "mistral3") return pixtral_mistral3_vision(config, v, where);
  return ModelDesign::kVisionNotCounted;
}

}  // namespace gmha::hf_detail
