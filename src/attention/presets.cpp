#include "gmha/attention/presets.hpp"

#include <functional>
#include <utility>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/hf_config.hpp"
#include "gmha/core/error.hpp"

namespace gmha {

namespace {

// Shape builders (values from the config each preset cites as its source).
AttentionShape gqa(int64_t d, int64_t heads, int64_t kv, int64_t hd, bool bias = false) {
  AttentionShape a;
  a.variant = kv == heads ? Variant::kMha : kv == 1 ? Variant::kMqa : Variant::kGqa;
  a.d_model = d;
  a.heads = heads;
  a.kv_heads = kv;
  a.head_dim = hd;
  a.qkv_bias = bias;
  return a;
}
AttentionShape mla(int64_t d, int64_t heads, int64_t q_lora, int64_t c, int64_t nope,
                   int64_t rope, int64_t v) {
  AttentionShape a;
  a.variant = Variant::kMla;
  a.d_model = d;
  a.heads = heads;
  a.kv_heads = 1;
  a.q_lora_rank = q_lora;
  a.kv_lora_rank = c;
  a.qk_nope_dim = nope;
  a.qk_rope_dim = rope;
  a.v_head_dim = v;
  return a;
}
FfnShape dense(int64_t inter) { return {FfnKind::kDense, inter}; }
FfnShape moe(int64_t experts, int64_t top_k, int64_t inter, int64_t shared = 0,
             int64_t shared_inter = 0) {
  FfnShape f;
  f.kind = FfnKind::kMoe;
  f.routed_experts = experts;
  f.top_k = top_k;
  f.expert_intermediate = inter;
  f.shared_experts = shared;
  f.shared_intermediate = shared > 0 ? (shared_inter > 0 ? shared_inter : inter) : 0;
  return f;
}

// Builds `layers` layers; `per_layer(i, spec)` adjusts layer i from the base spec.
ModelDesign build(std::string name, std::string source, int64_t vocab, int layers,
                  const LayerSpec& base, const std::function<void(int, LayerSpec&)>& per_layer = {}) {
  ModelDesign m;
  m.name = std::move(name);
  m.source = std::move(source);
  m.d_model = base.attention.d_model;
  m.vocab_size = vocab;
  for (int i = 0; i < layers; ++i) {
    LayerSpec l = base;
    if (per_layer) per_layer(i, l);
    m.layers.push_back(l);
  }
  m.spec = design_spec_of(m);
  return m;
}
// The published DeepSeek-V3 and Kimi K2 checkpoints are FP8 (E4M3) with one scale per 128 x 128
// block: their config.json says quantization_config {"quant_method": "fp8", "fmt": "e4m3",
// "weight_block_size": [128, 128]}, so serving and fit default to the weights people download.
ModelDesign fp8_blocks(ModelDesign m) {
  m.quant_method = "fp8";
  m.quant_format = "e4m3";
  m.torch_dtype = "bfloat16";
  return m;
}
// Qwen3 normalises each q and k head: q_norm, k_norm [head_dim] per layer (modeling_qwen3).
ModelDesign qk_norms(ModelDesign m) {
  for (LayerSpec& l : m.layers) l.attention.qk_norm = true;
  m.spec = design_spec_of(m);
  return m;
}
LayerSpec layer(AttentionShape a, FfnShape f) {
  LayerSpec l;
  l.attention = a;
  l.ffn = f;
  return l;
}

// The 2025-2026 presets are their published config.json (the architecture fields, verbatim
// names and values), read by the same code as a config file, so a preset and its config cannot
// disagree (tests/capacity/frontier_models_test.cpp holds the figures).
ModelDesign from_config(const std::string& name, const std::string& source, const char* config) {
  ModelDesign m = model_from_hf_config(nlohmann::json::parse(config), name);
  m.name = name;
  m.source = source;
  return m;
}

constexpr const char* kGptOss120b = R"({"model_type": "gpt_oss", "attention_bias": true,
  "head_dim": 64, "hidden_size": 2880, "intermediate_size": 2880, "max_position_embeddings": 131072,
  "num_attention_heads": 64, "num_experts_per_tok": 4, "num_hidden_layers": 36,
  "num_key_value_heads": 8, "num_local_experts": 128, "sliding_window": 128,
  "tie_word_embeddings": false, "vocab_size": 201088, "torch_dtype": "bfloat16",
  "quantization_config": {"modules_to_not_convert": ["model.layers.*.self_attn",
    "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"], "quant_method": "mxfp4"}})";
constexpr const char* kQwen3Next80b = R"({"model_type": "qwen3_next", "decoder_sparse_step": 1,
  "full_attention_interval": 4, "head_dim": 256, "hidden_size": 2048, "intermediate_size": 5120,
  "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_num_key_heads": 16,
  "linear_num_value_heads": 32, "linear_value_head_dim": 128, "max_position_embeddings": 262144,
  "moe_intermediate_size": 512, "num_attention_heads": 16, "num_experts": 512,
  "num_experts_per_tok": 10, "num_hidden_layers": 48, "num_key_value_heads": 2,
  "partial_rotary_factor": 0.25, "shared_expert_intermediate_size": 512,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 151936})";
constexpr const char* kDeepSeekV32 = R"({"model_type": "deepseek_v32", "hidden_size": 7168,
  "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_hidden_layers": 61,
  "num_attention_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256,
  "num_experts_per_tok": 8, "first_k_dense_replace": 3, "moe_layer_freq": 1, "q_lora_rank": 1536,
  "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
  "vocab_size": 129280, "tie_word_embeddings": false, "max_position_embeddings": 163840,
  "index_head_dim": 128, "index_n_heads": 64, "index_topk": 2048,
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                          "weight_block_size": [128, 128]}})";
constexpr const char* kGlm45 = R"({"model_type": "glm4_moe", "attention_bias": true,
  "head_dim": 128, "hidden_size": 5120, "partial_rotary_factor": 0.5, "intermediate_size": 12288,
  "max_position_embeddings": 131072, "moe_intermediate_size": 1536, "num_attention_heads": 96,
  "n_routed_experts": 160, "n_shared_experts": 1, "num_experts_per_tok": 8,
  "first_k_dense_replace": 3, "num_hidden_layers": 92, "num_key_value_heads": 8,
  "tie_word_embeddings": false, "use_qk_norm": true, "vocab_size": 151552})";
constexpr const char* kGemma3_27b = R"({"model_type": "gemma3", "text_config": {
  "model_type": "gemma3_text", "head_dim": 128, "hidden_size": 5376, "intermediate_size": 21504,
  "num_attention_heads": 32, "num_hidden_layers": 62, "num_key_value_heads": 16,
  "sliding_window": 1024}})";

constexpr const char* kMiniMaxM2 = R"({"model_type": "minimax_m2", "hidden_size": 3072,
  "intermediate_size": 1536, "num_hidden_layers": 62, "num_attention_heads": 48,
  "num_key_value_heads": 8, "head_dim": 128, "rotary_dim": 64, "num_local_experts": 256,
  "num_experts_per_tok": 8, "shared_intermediate_size": 0, "use_qk_norm": true,
  "qk_norm_type": "per_layer", "max_position_embeddings": 196608, "vocab_size": 200064,
  "attention_bias": false, "tie_word_embeddings": false})";

// https://huggingface.co/deepseek-ai/DeepSeek-V4-Pro/blob/main/config.json and
// .../DeepSeek-V4-Flash/blob/main/config.json: the architecture fields as published (the 62 and
// 44 compress_ratios end with the MTP layer's 0).
constexpr const char* kDeepSeekV4Pro = R"({"model_type": "deepseek_v4", "hidden_size": 7168,
  "num_hidden_layers": 61, "num_attention_heads": 128, "num_key_value_heads": 1, "head_dim": 512,
  "qk_rope_head_dim": 64, "q_lora_rank": 1536, "o_lora_rank": 1024, "o_groups": 16,
  "hc_mult": 4, "index_head_dim": 128, "index_n_heads": 64, "index_topk": 1024,
  "moe_intermediate_size": 3072, "n_routed_experts": 384, "n_shared_experts": 1,
  "num_experts_per_tok": 6, "num_hash_layers": 3, "num_nextn_predict_layers": 1,
  "sliding_window": 128, "max_position_embeddings": 1048576, "vocab_size": 129280,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                          "scale_fmt": "ue8m0", "weight_block_size": [128, 128]},
  "compress_ratios": [128, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 0]})";
constexpr const char* kDeepSeekV4Flash = R"({"model_type": "deepseek_v4", "hidden_size": 4096,
  "num_hidden_layers": 43, "num_attention_heads": 64, "num_key_value_heads": 1, "head_dim": 512,
  "qk_rope_head_dim": 64, "q_lora_rank": 1024, "o_lora_rank": 1024, "o_groups": 8,
  "hc_mult": 4, "index_head_dim": 128, "index_n_heads": 64, "index_topk": 512,
  "moe_intermediate_size": 2048, "n_routed_experts": 256, "n_shared_experts": 1,
  "num_experts_per_tok": 6, "num_hash_layers": 3, "num_nextn_predict_layers": 1,
  "sliding_window": 128, "max_position_embeddings": 1048576, "vocab_size": 129280,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                          "scale_fmt": "ue8m0", "weight_block_size": [128, 128]},
  "compress_ratios": [0, 0, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 0]})";

constexpr const char* kGlm5 = R"({"model_type": "glm_moe_dsa", "first_k_dense_replace": 3,
  "hidden_size": 6144, "index_head_dim": 128, "index_n_heads": 32, "index_topk": 2048,
  "intermediate_size": 12288, "kv_lora_rank": 512, "max_position_embeddings": 202752,
  "moe_intermediate_size": 2048, "n_routed_experts": 256, "n_shared_experts": 1,
  "num_attention_heads": 64, "num_experts_per_tok": 8, "num_hidden_layers": 78,
  "num_key_value_heads": 64, "q_lora_rank": 2048, "qk_nope_head_dim": 192, "qk_rope_head_dim": 64,
  "v_head_dim": 256, "vocab_size": 154880, "tie_word_embeddings": false})";
constexpr const char* kKimiLinear48b = R"({"model_type": "kimi_linear", "vocab_size": 163840,
  "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 27,
  "num_attention_heads": 32, "num_key_value_heads": 32, "tie_word_embeddings": false,
  "first_k_dense_replace": 1, "moe_intermediate_size": 1024, "moe_layer_freq": 1,
  "num_experts": 256, "num_experts_per_token": 8, "num_shared_experts": 1, "q_lora_rank": null,
  "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
  "mla_use_nope": true, "linear_attn_config": {"full_attn_layers": [4, 8, 12, 16, 20, 24, 27],
  "head_dim": 128, "kda_layers": [1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19, 21, 22, 23,
  25, 26], "num_heads": 32, "short_conv_kernel_size": 4}})";
constexpr const char* kQwen35_35b = R"({"model_type": "qwen3_5_moe", "text_config": {
  "model_type": "qwen3_5_moe_text", "attn_output_gate": true, "full_attention_interval": 4,
  "head_dim": 256, "hidden_size": 2048, "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128,
  "linear_num_key_heads": 16, "linear_num_value_heads": 32, "linear_value_head_dim": 128,
  "mamba_ssm_dtype": "float32", "max_position_embeddings": 262144, "moe_intermediate_size": 512,
  "num_attention_heads": 16, "num_experts": 256, "num_experts_per_tok": 8,
  "num_hidden_layers": 40, "num_key_value_heads": 2, "partial_rotary_factor": 0.25,
  "shared_expert_intermediate_size": 512, "tie_word_embeddings": false, "vocab_size": 248320}})";

// Gemma 4 31B's text_config as published (google/gemma-4-31B, an engine's verbatim fixture of it,
// tests/capacity/families_2026_test.cpp): 50 sliding-1024 layers (GQA 32/16 x 256) and 10 global
// layers (32 heads x 512, 4 K = V heads).
constexpr const char* kGemma4_31b = R"({"model_type": "gemma4", "text_config": {
  "model_type": "gemma4_text", "attention_bias": false, "attention_k_eq_v": true, "dtype": "bfloat16",
  "enable_moe_block": false, "global_head_dim": 512, "head_dim": 256, "hidden_size": 5376,
  "hidden_size_per_layer_input": 0, "intermediate_size": 21504, "max_position_embeddings": 262144,
  "num_attention_heads": 32, "num_global_key_value_heads": 4, "num_hidden_layers": 60,
  "num_key_value_heads": 16, "num_kv_shared_layers": 0, "sliding_window": 1024,
  "tie_word_embeddings": true, "use_double_wide_mlp": false, "vocab_size": 262144,
  "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention"]}})";
// Step-3.5 Flash's text architecture (stepfun-ai/Step-3.5-Flash; the values of its config.json as
// the model card and engines' fixtures give them, tests/capacity/families_2026_test.cpp): 12 full
// layers with 64 query heads and 33 sliding-512 layers with 96, 8 KV heads x 128 on both, head-wise
// gates, 3 dense layers then 42 MoE layers (288 experts top-8 + 1 shared of 1280).
constexpr const char* kStep35Flash = R"({"model_type": "step3p5", "hidden_size": 4096,
  "intermediate_size": 11264, "num_attention_heads": 64, "num_attention_groups": 8, "head_dim": 128,
  "num_hidden_layers": 45, "vocab_size": 128896, "max_position_embeddings": 262144,
  "sliding_window": 512, "use_head_wise_attn_gate": true, "moe_num_experts": 288, "moe_top_k": 8,
  "moe_intermediate_size": 1280, "share_expert_dim": 1280, "moe_layers_enum": "3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44",
  "attention_other_setting": {"attention_type": "sliding_attention", "num_attention_heads": 96,
    "num_attention_groups": 8, "head_dim": 128},
  "num_nextn_predict_layers": 3, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "layer_types": ["full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention"]})";
// Kimi K2.5's text_config (moonshotai/Kimi-K2.5: the DeepSeek-V3 MLA stack of Kimi K2, 384 experts
// top-8 + 1 shared, first layer dense); its MoonViT tower is not counted.
constexpr const char* kKimiK25 = R"({"model_type": "kimi_k25", "tie_word_embeddings": false,
  "text_config": {"model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432,
  "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_attention_heads": 64,
  "num_key_value_heads": 64, "n_routed_experts": 384, "n_shared_experts": 1, "num_experts_per_tok": 8,
  "first_k_dense_replace": 1, "moe_layer_freq": 1, "q_lora_rank": 1536, "kv_lora_rank": 512,
  "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "vocab_size": 163840,
  "max_position_embeddings": 262144, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "quantization_config": {"config_groups": {"group_0": {"input_activations": null,
    "output_activations": null, "targets": ["Linear"], "weights": {"actorder": null,
    "block_structure": null, "dynamic": false, "group_size": 32, "num_bits": 4, "observer": "minmax",
    "observer_kwargs": {}, "strategy": "group", "symmetric": true, "type": "int"}}},
    "format": "pack-quantized", "ignore": ["re:.*self_attn.*", "re:.*shared_experts.*",
    "re:.*mlp\\.(gate|up|gate_up|down)_proj.*", "re:.*lm_head.*", "re:vision_tower.*",
    "re:mm_projector.*"], "kv_cache_scheme": null, "quant_method": "compressed-tensors",
    "quantization_status": "compressed"}}})";
// Qwen3.5-397B-A17B's text_config (Qwen/Qwen3.5-397B-A17B): 45 Gated DeltaNet + 15 gated GQA
// layers, 512 experts top-10 + 1 shared of 1024.
constexpr const char* kQwen35_397b = R"({"model_type": "qwen3_5_moe", "text_config": {
  "model_type": "qwen3_5_moe_text", "attn_output_gate": true, "full_attention_interval": 4,
  "head_dim": 256, "hidden_size": 4096, "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128,
  "linear_num_key_heads": 16, "linear_num_value_heads": 64, "linear_value_head_dim": 128,
  "mamba_ssm_dtype": "float32", "max_position_embeddings": 262144, "moe_intermediate_size": 1024,
  "num_attention_heads": 32, "num_experts": 512, "num_experts_per_tok": 10,
  "num_hidden_layers": 60, "num_key_value_heads": 2, "partial_rotary_factor": 0.25,
  "shared_expert_intermediate_size": 1024, "tie_word_embeddings": false, "vocab_size": 248320}})";

struct Preset {
  PresetInfo info;
  std::function<ModelDesign()> make;
};

const std::vector<Preset>& presets() {
  static const std::vector<Preset> kPresets = [] {
    std::vector<Preset> p;
    auto add = [&](std::string name, std::string desc, std::string src,
                   std::function<ModelDesign(const std::string&, const std::string&)> f) {
      p.push_back({{name, desc, src}, [=] { return f(name, src); }});
    };
    add("gpt-oss-120b", "gpt-oss-120b: GQA 64/8 x 64 with sinks, sliding-128 and full layers alternate, 128 experts top-4",
        "https://huggingface.co/openai/gpt-oss-120b/blob/main/config.json",
        [](const std::string& n, const std::string& s) { return from_config(n, s, kGptOss120b); });
    add("qwen3-next-80b-a3b", "Qwen3-Next-80B-A3B: 36 Gated DeltaNet + 12 gated GQA layers, 512 experts top-10 + 1 shared",
        "https://huggingface.co/Qwen/Qwen3-Next-80B-A3B-Instruct/blob/main/config.json",
        [](const std::string& n, const std::string& s) { return from_config(n, s, kQwen3Next80b); });
    add("deepseek-v3.2", "DeepSeek-V3.2: MLA with the DSA indexer (64 x 128, top-2048 tokens), as V3 otherwise",
        "https://huggingface.co/deepseek-ai/DeepSeek-V3.2-Exp/blob/main/config.json",
        [](const std::string& n, const std::string& s) { return from_config(n, s, kDeepSeekV32); });
    add("glm-4.5", "GLM-4.5 355B: GQA 96/8 x 128, q/k norms, half RoPE, 3 dense + 89 MoE layers (160 experts top-8, 1 shared)",
        "https://huggingface.co/zai-org/GLM-4.5/blob/main/config.json",
        [](const std::string& n, const std::string& s) { return from_config(n, s, kGlm45); });
    add("gemma-3-27b", "Gemma 3 27B (text): GQA 32/16 x 128, 52 sliding-1024 + 10 global layers",
        "https://huggingface.co/google/gemma-3-27b-it/blob/main/config.json (+ Gemma3TextConfig defaults)",
        [](const std::string& n, const std::string& s) { return from_config(n, s, kGemma3_27b); });
    add("minimax-m2", "MiniMax-M2 230B: GQA 48/8 x 128 with per-layer q/k norms, 256 experts top-8",
        "https://huggingface.co/MiniMaxAI/MiniMax-M2/blob/main/config.json",
        [](const std::string& n, const std::string& s) { return from_config(n, s, kMiniMaxM2); });
    add("glm-5", "GLM-5 744B: MLA 64 heads (qk_nope 192, v 256) with the DSA indexer (32 x 128, top-2048), 3 dense + 75 MoE layers",
        "https://huggingface.co/zai-org/GLM-5/blob/main/config.json (+ vocab 154880 of the GLM-5 family)",
        [](const std::string& n, const std::string& s) { return from_config(n, s, kGlm5); });
    add("deepseek-v4-pro", "DeepSeek-V4-Pro 1.6T: 61 layers of CSA (1/4, top-1024) and HCA (1/128) over a shared 512 K=V latent + window 128, grouped output LoRA, 384 experts top-6",
        "https://huggingface.co/deepseek-ai/DeepSeek-V4-Pro/blob/main/config.json",
        [](const std::string& n, const std::string& s) { return from_config(n, s, kDeepSeekV4Pro); });
    add("deepseek-v4-flash", "DeepSeek-V4-Flash 284B: 2 window-128 + 41 CSA (1/4, top-512) / HCA (1/128) layers over a shared 512 K=V latent, 256 experts top-6",
        "https://huggingface.co/deepseek-ai/DeepSeek-V4-Flash/blob/main/config.json",
        [](const std::string& n, const std::string& s) { return from_config(n, s, kDeepSeekV4Flash); });
    add("kimi-linear-48b-a3b", "Kimi Linear 48B-A3B: 20 KDA + 7 NoPE MLA layers, 256 experts top-8 + 1 shared",
        "https://huggingface.co/moonshotai/Kimi-Linear-48B-A3B-Instruct/blob/main/config.json",
        [](const std::string& n, const std::string& s) { return from_config(n, s, kKimiLinear48b); });
    add("qwen3.5-35b-a3b", "Qwen3.5-35B-A3B (text): 30 Gated DeltaNet + 10 gated GQA layers, fp32 states, 256 experts top-8 + 1 shared",
        "https://huggingface.co/Qwen/Qwen3.5-35B-A3B/blob/main/config.json (text_config)",
        [](const std::string& n, const std::string& s) { return from_config(n, s, kQwen35_35b); });
    add("gemma-4-31b", "Gemma 4 31B (text): 50 sliding-1024 layers GQA 32/16 x 256 + 10 global layers 32 heads x 512 with 4 K=V heads",
        "https://huggingface.co/google/gemma-4-31B/blob/main/config.json (text_config)",
        [](const std::string& n, const std::string& s) { return from_config(n, s, kGemma4_31b); });
    add("kimi-k2.5", "Kimi K2.5 1T (text): MLA with 64 heads, 384 experts top-8 + 1 shared, 256K context",
        "https://huggingface.co/moonshotai/Kimi-K2.5/blob/main/config.json (text_config, with its "
        "INT4 W4A16 quantization_config: routed experts int4 in groups of 32, the rest bf16)",
        [](const std::string& n, const std::string& s) { return from_config(n, s, kKimiK25); });
    add("step3.5-flash", "Step-3.5 Flash 196B: 12 full (64 heads) + 33 sliding-512 (96 heads) GQA layers, 8 KV x 128, head-wise gates, 288 experts top-8 + 1 shared",
        "https://huggingface.co/stepfun-ai/Step-3.5-Flash (config.json values as the card and engines' fixtures give them)",
        [](const std::string& n, const std::string& s) { return from_config(n, s, kStep35Flash); });
    add("qwen3.5-397b-a17b", "Qwen3.5-397B-A17B (text): 45 Gated DeltaNet + 15 gated GQA layers, fp32 states, 512 experts top-10 + 1 shared",
        "https://huggingface.co/Qwen/Qwen3.5-397B-A17B/blob/main/config.json (text_config)",
        [](const std::string& n, const std::string& s) { return from_config(n, s, kQwen35_397b); });
    add("deepseek-v3", "DeepSeek-V3 671B: MLA, 3 dense + 58 MoE layers (256 experts, top-8, 1 shared)",
        "deepseek-ai/DeepSeek-V3 config.json; models.json",
        [](const std::string& n, const std::string& s) {
          return fp8_blocks(build(n, s, 129280, 61, layer(mla(7168, 128, 1536, 512, 128, 64, 128), moe(256, 8, 2048, 1)),
                                  [](int i, LayerSpec& l) { if (i < 3) l.ffn = dense(18432); }));
        });
    add("deepseek-v2-lite", "DeepSeek-V2-Lite 16B: MLA without query compression, 64 experts top-6",
        "deepseek-ai/DeepSeek-V2-Lite config.json; models.json",
        [](const std::string& n, const std::string& s) {
          return build(n, s, 102400, 27, layer(mla(2048, 16, 0, 512, 128, 64, 128), moe(64, 6, 1408, 2)),
                       [](int i, LayerSpec& l) { if (i < 1) l.ffn = dense(10944); });
        });
    add("kimi-k2", "Kimi K2 1T: MLA with 64 heads, 384 experts top-8, 1 shared",
        "moonshotai/Kimi-K2-Instruct config.json; models.json",
        [](const std::string& n, const std::string& s) {
          return fp8_blocks(build(n, s, 163840, 61, layer(mla(7168, 64, 1536, 512, 128, 64, 128), moe(384, 8, 2048, 1)),
                                  [](int i, LayerSpec& l) { if (i < 1) l.ffn = dense(18432); }));
        });
    add("qwen3-235b-a22b", "Qwen3-235B-A22B: GQA 64/4, 128 experts top-8",
        "Qwen/Qwen3-235B-A22B config.json; models.json",
        [](const std::string& n, const std::string& s) {
          return qk_norms(build(n, s, 151936, 94, layer(gqa(4096, 64, 4, 128), moe(128, 8, 1536))));
        });
    add("qwen3-32b", "Qwen3-32B dense: GQA 64/8, head_dim 128 decoupled from d=5120",
        "Qwen/Qwen3-32B config.json; models.json",
        [](const std::string& n, const std::string& s) {
          return qk_norms(build(n, s, 151936, 64, layer(gqa(5120, 64, 8, 128), dense(25600))));
        });
    add("qwen2.5-7b", "Qwen2.5-7B dense: GQA 28/4 with q/k/v biases",
        "Qwen/Qwen2.5-7B config.json; models.json",
        [](const std::string& n, const std::string& s) {
          return build(n, s, 152064, 28, layer(gqa(3584, 28, 4, 128, true), dense(18944)));
        });
    add("qwen2.5-72b", "Qwen2.5-72B dense: GQA 64/8 with q/k/v biases",
        "Qwen/Qwen2.5-72B config.json (80 layers, 8192, 64/8, 29568)",
        [](const std::string& n, const std::string& s) {
          return build(n, s, 152064, 80, layer(gqa(8192, 64, 8, 128, true), dense(29568)));
        });
    add("llama3-8b", "Llama-3-8B dense: GQA 32/8", "meta-llama/Meta-Llama-3-8B config.json; models.json",
        [](const std::string& n, const std::string& s) {
          return build(n, s, 128256, 32, layer(gqa(4096, 32, 8, 128), dense(14336)));
        });
    add("llama3-70b", "Llama-3-70B dense: GQA 64/8", "meta-llama/Meta-Llama-3-70B config.json; models.json",
        [](const std::string& n, const std::string& s) {
          return build(n, s, 128256, 80, layer(gqa(8192, 64, 8, 128), dense(28672)));
        });
    add("llama3.1-405b", "Llama-3.1-405B dense: GQA 128/8",
        "meta-llama/Llama-3.1-405B config.json (126 layers, 16384, 128/8, 53248)",
        [](const std::string& n, const std::string& s) {
          return build(n, s, 128256, 126, layer(gqa(16384, 128, 8, 128), dense(53248)));
        });
    add("mistral-7b-v0.1", "Mistral-7B-v0.1: GQA 32/8 with a 4096-token sliding window",
        "mistralai/Mistral-7B-v0.1 config.json; models.json",
        [](const std::string& n, const std::string& s) {
          LayerSpec l = layer(gqa(4096, 32, 8, 128), dense(14336));
          l.span = {SpanKind::kSlidingWindow, 4096};
          return build(n, s, 32000, 32, l);
        });
    add("mixtral-8x7b", "Mixtral-8x7B: GQA 32/8, 8 experts top-2",
        "mistralai/Mixtral-8x7B-v0.1 config.json (32 layers, 4096, 32/8, 14336, 8 experts, top-2)",
        [](const std::string& n, const std::string& s) {
          return build(n, s, 32000, 32, layer(gqa(4096, 32, 8, 128), moe(8, 2, 14336)));
        });
    add("gemma2-9b", "Gemma-2-9B: GQA 16/8, head_dim 256, sliding 4096 and global layers alternating",
        "google/gemma-2-9b config.json (42 layers, 3584, 16/8, head_dim 256, 14336, window 4096)",
        [](const std::string& n, const std::string& s) {
          ModelDesign m = build(n, s, 256000, 42, layer(gqa(3584, 16, 8, 256), dense(14336)),
                                [](int i, LayerSpec& l) {
                                  if (i % 2 == 0) l.span = {SpanKind::kSlidingWindow, 4096};
                                });
          m.tied_embeddings = true;
          return m;
        });
    add("llama4-maverick", "Llama 4 Maverick 400B: chunked-8192 RoPE layers + every 4th global NoPE layer; MoE every 2nd layer (128 experts top-1 + 1 shared)",
        "meta-llama/Llama-4-Maverick-17B-128E config.json; models.json",
        [](const std::string& n, const std::string& s) {
          return build(n, s, 202048, 48, layer(gqa(5120, 40, 8, 128), dense(16384)),
                       [](int i, LayerSpec& l) {
                         if ((i + 1) % 4 == 0) {
                           l.rope = false;  // NoPE layer, global attention
                         } else {
                           l.span = {SpanKind::kChunked, 8192};
                         }
                         if ((i + 1) % 2 == 0) l.ffn = moe(128, 1, 8192, 1);
                       });
        });
    add("minimax-m1", "MiniMax-M1 456B: 70 lightning (linear) layers + 10 softmax GQA 64/8 layers, 32 experts top-2",
        "MiniMaxAI/MiniMax-M1-40k config.json; models.json",
        [](const std::string& n, const std::string& s) {
          return build(n, s, 200064, 80, layer(gqa(6144, 64, 8, 128), moe(32, 2, 9216)),
                       [](int i, LayerSpec& l) {
                         if ((i + 1) % 8 != 0) {
                           AttentionShape a = gqa(6144, 64, 64, 128);
                           a.variant = Variant::kLinear;
                           a.state_value_dim = 128;
                           a.output_gate = true;
                           l.attention = a;
                           l.kv_dtype = DType::kF32;
                         }
                       });
        });
    add("ernie-4.5-300b-a47b", "ERNIE-4.5-300B-A47B: GQA 64/8, 3 dense + 51 MoE layers (64 experts top-8)",
        "baidu/ERNIE-4.5-300B-A47B-PT config.json; models.json",
        [](const std::string& n, const std::string& s) {
          return build(n, s, 103424, 54, layer(gqa(8192, 64, 8, 128), moe(64, 8, 3584)),
                       [](int i, LayerSpec& l) { if (i < 3) l.ffn = dense(28672); });
        });
    add("pangu-pro-moe", "Pangu Pro MoE 72B-A16B: GQA 40/8, 64 experts top-8 + 4 shared",
        "models.json (IntervitensInc/pangu-pro-moe-model README; arXiv 2505.21411)",
        [](const std::string& n, const std::string& s) {
          return build(n, s, 153376, 48, layer(gqa(5120, 40, 8, 128), moe(64, 8, 1344, 4)));
        });
    add("step3", "Step-3 321B: MFA (64 heads, one K/V head of 256, C_q 2048), MoE layers 4-59 (48 experts top-3 + 1 shared)",
        "stepfun-ai/step3 config (vLLM Step3TextConfig defaults); models.json; Step-3 paper Table 1",
        [](const std::string& n, const std::string& s) {
          AttentionShape a;
          a.variant = Variant::kMfa;
          a.d_model = 7168;
          a.heads = 64;
          a.kv_heads = 1;
          a.head_dim = 256;
          a.q_share_dim = 2048;
          return build(n, s, 128815, 61, layer(a, dense(18432)), [](int i, LayerSpec& l) {
            if (i >= 4 && i <= 59) l.ffn = moe(48, 3, 5120, 1, 5120);
          });
        });
    return p;
  }();
  return kPresets;
}

}  // namespace

std::vector<PresetInfo> list_presets() {
  std::vector<PresetInfo> out;
  for (const auto& p : presets()) out.push_back(p.info);
  return out;
}

bool is_preset(std::string_view name) {
  for (const auto& p : presets()) if (p.info.name == name) return true;
  return false;
}

namespace {
// max_position_embeddings of the presets built in code (the config-text presets carry their
// own), from each model's published config.json. Llama-3.1-405B, Qwen2.5 and Qwen3 list their
// native window (Qwen3 reaches 131072 only with YaRN scaling, which the config does not enable).
int64_t preset_max_context(std::string_view name) {
  static const std::pair<std::string_view, int64_t> kMax[] = {
      {"deepseek-v3", 163840},     {"deepseek-v2-lite", 163840}, {"kimi-k2", 131072},
      {"qwen3-235b-a22b", 40960},  {"qwen3-32b", 40960},         {"qwen2.5-7b", 131072},
      {"qwen2.5-72b", 131072},     {"llama3-8b", 8192},          {"llama3-70b", 8192},
      {"llama3.1-405b", 131072},   {"mistral-7b-v0.1", 32768},   {"mixtral-8x7b", 32768},
      {"gemma2-9b", 8192},
  };
  for (const auto& [preset, tokens] : kMax) {
    if (preset == name) return tokens;
  }
  return 0;
}
}  // namespace

ModelDesign read_preset(std::string_view name) {
  for (const auto& p : presets()) {
    if (p.info.name == name) {
      ModelDesign m = p.make();
      if (m.max_context == 0) m.max_context = preset_max_context(name);
      validate_model(m, m.name);
      return m;
    }
  }
  std::string known;
  for (const auto& p : presets()) known += (known.empty() ? "" : ", ") + p.info.name;
  throw errors::unknown_name("model", "preset", std::string(name), known);
}

}  // namespace gmha
