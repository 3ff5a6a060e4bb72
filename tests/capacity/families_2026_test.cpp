// Published config.json files of the 2026 families (gemma4, mimo_v2_flash, step3p5, mistral3,
// qwen2_5_vl), read as their authors published them (the source of each is named above it), with
// KV at two contexts and the parameter counts worked by hand in the comments. Each count is
// compared with the published figure it matches, and the convention that figure uses is named.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "gmha/attention/hf_config.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/core/error.hpp"
#include "support/hf_fixture.hpp"

using namespace gmha;

namespace {

// The published-config helpers every family test shares (support/hf_fixture.hpp).
constexpr auto parse = gmha::test::parse_config;
constexpr auto at = gmha::test::exact_at;
constexpr auto off = gmha::test::off_by;

// google/gemma-4-31B config.json's text_config, field for field as an engine's verbatim fixture
// of it publishes it (write_gemma4_native_config in a Rust serving engine's tests: the same keys
// and values, its layer list shortened to one layer), with the 60 layers and their layer_types as
// ollama's test of the 31B config gives them (x/mlxrunner gemma4, TestParseTextConfig31B: 5
// sliding + 1 full, ten times). The vision_config (gemma4_vision) is reduced to its model_type, as there.
const char* kGemma4_31b = R"({
  "architectures": ["Gemma4ForConditionalGeneration"], "model_type": "gemma4",
  "text_config": {"attention_bias": false, "attention_dropout": 0.0, "attention_k_eq_v": true,
    "dtype": "bfloat16", "enable_moe_block": false, "final_logit_softcapping": 30.0,
    "global_head_dim": 512, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
    "hidden_size": 5376, "hidden_size_per_layer_input": 0, "intermediate_size": 21504,
    "layer_types": [
    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention"],
    "max_position_embeddings": 262144, "model_type": "gemma4_text", "num_attention_heads": 32,
    "num_global_key_value_heads": 4, "num_hidden_layers": 60, "num_key_value_heads": 16,
    "num_kv_shared_layers": 0, "rms_norm_eps": 1e-6,
    "rope_parameters": {"full_attention": {"partial_rotary_factor": 0.25, "rope_theta": 1000000.0,
      "rope_type": "proportional"}, "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"}},
    "sliding_window": 1024, "tie_word_embeddings": true, "use_cache": true,
    "use_double_wide_mlp": false, "vocab_size": 262144, "vocab_size_per_layer_input": 262144},
  "tie_word_embeddings": true, "vision_config": {"model_type": "gemma4_vision"}
})";

// google/gemma-4-26B-A4B's text_config as ollama's test of it publishes it (x/mlxrunner gemma4,
// TestParseTextConfig26B): K = V global layers with 2 KV heads, and on every layer an MoE block of
// 128 experts (top-8 of 704) beside a dense MLP of 2112.
const char* kGemma4_26bA4b = R"({
  "architectures": ["Gemma4ForConditionalGeneration"],
  "text_config": {"hidden_size": 2816, "num_hidden_layers": 30, "intermediate_size": 2112,
    "num_attention_heads": 16, "num_key_value_heads": 8, "num_global_key_value_heads": 2,
    "head_dim": 256, "global_head_dim": 512, "vocab_size": 262144, "rms_norm_eps": 1e-6,
    "max_position_embeddings": 131072, "sliding_window": 1024, "final_logit_softcapping": 30.0,
    "use_double_wide_mlp": false, "num_kv_shared_layers": 0, "hidden_size_per_layer_input": null,
    "attention_k_eq_v": true, "enable_moe_block": true, "num_experts": 128, "top_k_experts": 8,
    "moe_intermediate_size": 704, "tie_word_embeddings": true,
    "layer_types": [
    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention"],
    "rope_parameters": {"full_attention": {"partial_rotary_factor": 0.25, "rope_theta": 1000000.0,
      "rope_type": "proportional"}, "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"}}},
  "model_type": "gemma4"
})";

// XiaomiMiMo/MiMo-V2-Flash config.json as a Rust engine's `mimo_v2_flash_hub_config` test
// publishes it (its hybrid_layer_pattern and moe_layer_freq written out: full attention on layer 0
// and every 6th, MoE from layer 1). It writes no max_position_embeddings or tie_word_embeddings:
// MiMoV2FlashConfig's defaults (131072, false).
const char* kMimoV2Flash = R"({
  "model_type": "mimo_v2_flash", "vocab_size": 152576, "hidden_size": 4096, "num_hidden_layers": 48,
  "num_attention_heads": 64, "num_key_value_heads": 4, "head_dim": 192, "v_head_dim": 128,
  "swa_num_attention_heads": 64, "swa_num_key_value_heads": 8, "swa_head_dim": 192,
  "swa_v_head_dim": 128, "partial_rotary_factor": 0.334, "rope_theta": 5000000,
  "swa_rope_theta": 10000, "sliding_window": 128, "sliding_window_size": 128,
  "hybrid_layer_pattern": [0,1,1,1,1,0,1,1,1,1,1,0,1,1,1,1,1,0,1,1,1,1,1,0,1,1,1,1,1,0,1,1,1,1,1,0,1,1,1,1,1,0,1,1,1,1,1,0],
  "moe_layer_freq": [0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],
  "add_swa_attention_sink_bias": true, "add_full_attention_sink_bias": false,
  "intermediate_size": 16384, "n_routed_experts": 256, "num_experts_per_tok": 8,
  "moe_intermediate_size": 2048, "routed_scaling_factor": null, "scoring_func": "sigmoid",
  "topk_method": "noaux_tc", "n_group": 1, "norm_topk_prob": true, "layernorm_epsilon": 1e-5,
  "attention_value_scale": 0.707
})";

// stepfun-ai/Step-3.5-Flash: no verbatim config.json was found. This is its architecture as the
// published values give it, each from where it was read: 45 layers, hidden 4096, 64 query heads,
// 8 KV heads x 128, intermediate 11264, vocab 128896, window 512, 288 experts top-8 of 1280, 3 MTP
// layers and 262144 positions (the model card's architecture table as mirrored by model
// directories); the sliding layers' attention_other_setting (96 heads, 8 groups, 128) and the
// head-wise gate (engines' step3p5 fixtures); full attention on layer 0 and every 4th of the 48
// listed layers (its per-layer rope_theta list, 5e6 on full layers); MoE from layer 3 with one
// shared expert of 1280 (share_expert_dim; a quantizer's ignore list names layers.45 as MTP).
const char* kStep35Flash = R"({
  "architectures": ["Step3p5ForCausalLM"], "model_type": "step3p5", "hidden_size": 4096,
  "intermediate_size": 11264, "num_attention_heads": 64, "num_attention_groups": 8, "head_dim": 128,
  "num_hidden_layers": 45, "vocab_size": 128896, "max_position_embeddings": 262144,
  "rms_norm_eps": 1e-5, "sliding_window": 512, "use_head_wise_attn_gate": true,
  "moe_num_experts": 288, "moe_top_k": 8, "moe_intermediate_size": 1280, "share_expert_dim": 1280,
  "moe_layers_enum": "3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44",
  "attention_other_setting": {"attention_type": "sliding_attention", "num_attention_heads": 96,
    "num_attention_groups": 8, "head_dim": 128},
  "layer_types": ["full_attention","sliding_attention","sliding_attention","sliding_attention","full_attention","sliding_attention","sliding_attention","sliding_attention","full_attention","sliding_attention","sliding_attention","sliding_attention","full_attention","sliding_attention","sliding_attention","sliding_attention","full_attention","sliding_attention","sliding_attention","sliding_attention","full_attention","sliding_attention","sliding_attention","sliding_attention","full_attention","sliding_attention","sliding_attention","sliding_attention","full_attention","sliding_attention","sliding_attention","sliding_attention","full_attention","sliding_attention","sliding_attention","sliding_attention","full_attention","sliding_attention","sliding_attention","sliding_attention","full_attention","sliding_attention","sliding_attention","sliding_attention","full_attention","sliding_attention","sliding_attention","sliding_attention"],
  "num_nextn_predict_layers": 3, "tie_word_embeddings": false, "torch_dtype": "bfloat16"
})";

// The Mistral 3 config.json of Mistral Small 3.x 24B (Mistral3ForConditionalGeneration, the text
// encoder of FLUX.2-dev) as a training tool embeds it verbatim (M3_CONFIG_JSON, transformers
// 4.57.1): a mistral text stack and a Pixtral vision tower.
const char* kMistralSmall3 = R"({
  "architectures": ["Mistral3ForConditionalGeneration"], "dtype": "bfloat16", "image_token_index": 10,
  "model_type": "mistral3", "multimodal_projector_bias": false, "projector_hidden_act": "gelu",
  "spatial_merge_size": 2,
  "text_config": {"attention_dropout": 0.0, "dtype": "bfloat16", "head_dim": 128, "hidden_act": "silu",
    "hidden_size": 5120, "initializer_range": 0.02, "intermediate_size": 32768,
    "max_position_embeddings": 131072, "model_type": "mistral", "num_attention_heads": 32,
    "num_hidden_layers": 40, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
    "rope_theta": 1000000000.0, "sliding_window": null, "use_cache": true, "vocab_size": 131072},
  "transformers_version": "4.57.1",
  "vision_config": {"attention_dropout": 0.0, "dtype": "bfloat16", "head_dim": 64, "hidden_act": "silu",
    "hidden_size": 1024, "image_size": 1540, "initializer_range": 0.02, "intermediate_size": 4096,
    "model_type": "pixtral", "num_attention_heads": 16, "num_channels": 3, "num_hidden_layers": 24,
    "patch_size": 14, "rope_theta": 10000.0},
  "vision_feature_layer": -1
})";

// Qwen/Qwen2.5-VL-7B-Instruct config.json (transformers 4.53.1 layout: the text fields at the top
// level and again in text_config) as a training tool embeds it verbatim (QWEN2_5_VL_CONFIG_JSON,
// the text encoder of HunyuanImage 2.1).
const char* kQwen25Vl7b = R"({
  "architectures": ["Qwen2_5_VLForConditionalGeneration"], "attention_dropout": 0.0,
  "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 3584,
  "image_token_id": 151655, "initializer_range": 0.02, "intermediate_size": 18944,
  "max_position_embeddings": 128000, "max_window_layers": 28, "model_type": "qwen2_5_vl",
  "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4, "rms_norm_eps": 1e-06,
  "rope_scaling": {"mrope_section": [16, 24, 24], "rope_type": "default", "type": "default"},
  "rope_theta": 1000000.0, "sliding_window": 32768,
  "text_config": {"architectures": ["Qwen2_5_VLForConditionalGeneration"], "attention_dropout": 0.0,
    "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 3584,
    "image_token_id": null, "initializer_range": 0.02, "intermediate_size": 18944,
    "layer_types": ["full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention","full_attention"],
    "max_position_embeddings": 128000, "max_window_layers": 28, "model_type": "qwen2_5_vl_text",
    "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4,
    "rms_norm_eps": 1e-06,
    "rope_scaling": {"mrope_section": [16, 24, 24], "rope_type": "default", "type": "default"},
    "rope_theta": 1000000.0, "sliding_window": null, "torch_dtype": "float32", "use_cache": true,
    "use_sliding_window": false, "video_token_id": null, "vision_end_token_id": 151653,
    "vision_start_token_id": 151652, "vision_token_id": 151654, "vocab_size": 152064},
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.53.1",
  "use_cache": true, "use_sliding_window": false, "video_token_id": 151656,
  "vision_config": {"depth": 32, "fullatt_block_indexes": [7, 15, 23, 31], "hidden_act": "silu",
    "hidden_size": 1280, "in_channels": 3, "in_chans": 3, "initializer_range": 0.02,
    "intermediate_size": 3420, "model_type": "qwen2_5_vl", "num_heads": 16, "out_hidden_size": 3584,
    "patch_size": 14, "spatial_merge_size": 2, "spatial_patch_size": 14, "temporal_patch_size": 2,
    "tokens_per_second": 2, "torch_dtype": "float32", "window_size": 112},
  "vision_end_token_id": 151653, "vision_start_token_id": 151652, "vision_token_id": 151654,
  "vocab_size": 152064
})";

}  // namespace

TEST_CASE("families 2026: Gemma 4 31B, 50 sliding-1024 + 10 global layers with K = V", "[capacity]") {
  const ModelDesign m = parse(kGemma4_31b);
  REQUIRE(m.layers.size() == 60);
  for (size_t i = 0; i < 60; ++i) {
    INFO("layer " << i);
    const bool global = (i + 1) % 6 == 0;
    const AttentionShape& a = m.layers[i].attention;
    CHECK((m.layers[i].span.kind == SpanKind::kFull) == global);
    CHECK(a.head_dim == (global ? 512 : 256));
    CHECK(a.kv_heads == (global ? 4 : 16));
    CHECK(a.kv_tied == global);  // attention_k_eq_v acts on global layers only
    CHECK(a.qk_norm);
  }
  CHECK(m.layers[0].span == AttentionSpan{SpanKind::kSlidingWindow, 1024});
  CHECK(m.layers[5].attention.rotary_dim == 128);  // partial_rotary_factor 0.25 of 512
  CHECK(m.tied_embeddings);
  CHECK(m.vision_params == ModelDesign::kVisionNotCounted);  // gemma4_vision: not counted
  const auto f = at(m, 32768);
  // Sliding: K, V of 16 x 256 bf16 = 16384 B. Global: K of 4 x 512 bf16 = 4096 B, and the V block
  // vLLM allocates beside it (K = V) another 4096 B. 50 * 16384 + 10 * 8192 = 901120 B per token;
  // the architectural minimum stores K once: 50 * 16384 + 10 * 4096 = 860160.
  CHECK(f.kv_bytes_per_token == 901120);
  CHECK(f.kv_bytes_per_token_minimal == 860160);
  CHECK(f.cache_owning_layers == 60);
  // Sliding layers keep min(T, 1024) tokens, global layers all T.
  CHECK(f.kv_bytes == 50.0 * 16384 * 1024 + 10.0 * 8192 * 32768);                // 3523215360
  CHECK(at(m, 131072).kv_bytes == 50.0 * 16384 * 1024 + 10.0 * 8192 * 131072);   // 11576279040
  // Sliding attention: q 32*256*5376 + k, v 2*16*256*5376 + o 5376*8192 + q/k norms 2*256
  // = 132121088. Global: q 32*512*5376 + k 4*512*5376 (no v_proj) + o 5376*16384 + norms 2*512
  // = 187171840. FFN 3*5376*21504 = 346816512 on every layer.
  const auto& g = f.groups;
  REQUIRE(g.size() >= 2);
  CHECK(g.at(0).attn_params_per_layer == 132121088);
  CHECK(g.at(1).attn_params_per_layer == 187171840);
  // 50*(132121088 + 346816512) + 10*(187171840 + 346816512) + tied 262144*5376 + norms 5376*121
  // = 30696700160. Published: 30.7 B (the model directories' parameter count of Gemma 4 31B; the
  // name's "31B" rounds it): 0.01 % off, text stack only (the vision tower is not counted).
  CHECK(f.total_params == 30696700160LL);
  CHECK(off(f.total_params, 30.7e9) < 0.015);
}

TEST_CASE("families 2026: Gemma 4 defaults, layer pattern and what fails closed", "[capacity]") {
  nlohmann::json c = nlohmann::json::parse(kGemma4_31b);
  c["text_config"].erase("layer_types");  // Gemma4TextConfig: sliding unless (i + 1) % 6 == 0
  const ModelDesign d = model_from_hf_config(c, "config.json");
  const ModelDesign m = parse(kGemma4_31b);
  for (size_t i = 0; i < 60; ++i) CHECK(same_layer(d.layers[i], m.layers[i]));
  // Without attention_k_eq_v, global layers keep num_key_value_heads and their own v_proj.
  c["text_config"]["attention_k_eq_v"] = false;
  const ModelDesign nokv = model_from_hf_config(c, "config.json");
  CHECK(nokv.layers[5].attention.kv_heads == 16);
  CHECK_FALSE(nokv.layers[5].attention.kv_tied);
  CHECK(nokv.layers[5].attention.head_dim == 512);
  // The E2B / E4B per-layer embeddings, KV sharing and double-wide MLP are read
  // (families_gemma_ple_test.cpp); an omitted hidden_size_per_layer_input is Gemma4TextConfig's 256.
  nlohmann::json absent = nlohmann::json::parse(kGemma4_31b);
  absent["text_config"].erase("hidden_size_per_layer_input");
  CHECK(model_from_hf_config(absent, "config.json").per_layer_input_dim == 256);
  // What Gemma 4 has and gmha does not model fails closed, naming it.
  nlohmann::json bidi = nlohmann::json::parse(kGemma4_31b);
  bidi["text_config"]["use_bidirectional_attention"] = "vision";
  CHECK_THROWS_WITH(model_from_hf_config(bidi, "config.json"), Catch::Contains("use_bidirectional_attention"));
  nlohmann::json null_ple = nlohmann::json::parse(kGemma4_31b);
  null_ple["text_config"]["hidden_size_per_layer_input"] = nullptr;  // written null: no PLE
  CHECK(model_from_hf_config(null_ple, "config.json").layers.size() == 60);
}

TEST_CASE("families 2026: Gemma 4 26B-A4B, an MoE block beside the dense MLP", "[capacity]") {
  const ModelDesign m = parse(kGemma4_26bA4b);
  REQUIRE(m.layers.size() == 30);
  const FfnShape& ffn = m.layers[0].ffn;
  CHECK(ffn.kind == FfnKind::kMoe);
  CHECK(ffn.routed_experts == 128);
  CHECK(ffn.top_k == 8);
  CHECK(ffn.shared_experts == 1);          // the dense MLP, always active
  CHECK(ffn.shared_intermediate == 2112);
  CHECK(m.layers[5].attention.kv_heads == 2);
  const auto f = at(m, 32768);
  // Sliding: K, V of 8 x 256 bf16 = 8192 B; global: K 2 x 512 = 2048 B + the V block vLLM
  // allocates beside it, 2048 B. 25 * 8192 + 5 * 4096 = 225280 B per token.
  CHECK(f.kv_bytes_per_token == 225280);
  CHECK(f.kv_bytes == 25.0 * 8192 * 1024 + 5.0 * 4096 * 32768);                // 880803840
  CHECK(at(m, 131072).kv_bytes == 25.0 * 8192 * 1024 + 5.0 * 4096 * 131072);   // 2894069760
  // Sliding attention: q 16*256*2816 + k, v 2*8*256*2816 + o 2816*4096 + norms 512 = 34603520;
  // global: q 16*512*2816 + k 2*512*2816 + o 2816*8192 + norms 1024 = 49021952. FFN per layer:
  // 128*3*2816*704 + dense 3*2816*2112 + router 2816*128 = 779468800 (active: 8 experts, the
  // dense MLP and the router, 65781760). Total 25*34603520 + 5*49021952 + 30*779468800 + tied
  // 262144*2816 + norms 2816*61 = 25232631040; card: 25.2 B total (0.1 % off).
  CHECK(f.total_params == 25232631040LL);
  CHECK(off(f.total_params, 25.2e9) < 0.015);
  // Active with the (tied) embedding: 3822019840; card: 3.8 B active (0.6 % off).
  CHECK(f.active_params == 3822019840LL);
  CHECK(off(f.active_params, 3.8e9) < 0.015);
}

TEST_CASE("families 2026: MiMo-V2-Flash, 9 full (4 KV heads) + 39 sliding-128 (8 KV heads, sinks)", "[capacity]") {
  const ModelDesign m = parse(kMimoV2Flash);
  REQUIRE(m.layers.size() == 48);
  for (size_t i = 0; i < 48; ++i) {
    INFO("layer " << i);
    const bool full = i == 0 || (i + 1) % 6 == 0;
    const AttentionShape& a = m.layers[i].attention;
    CHECK((m.layers[i].span.kind == SpanKind::kFull) == full);
    CHECK(a.kv_heads == (full ? 4 : 8));
    CHECK(a.head_dim == 192);
    CHECK(a.v_head_dim == 128);  // K head 192, V head 128
    CHECK(a.sinks == !full);
    CHECK(m.layers[i].ffn.kind == (i == 0 ? FfnKind::kDense : FfnKind::kMoe));
  }
  CHECK(m.layers[1].span == AttentionSpan{SpanKind::kSlidingWindow, 128});
  CHECK(m.layers[0].attention.rotary_dim == 64);  // 0.334 of 192
  CHECK(m.max_context == 131072);                 // omitted: MiMoV2FlashConfig's default
  const auto f = at(m, 32768);
  // Full: K 4 x 192 + V 4 x 128 in bf16 = 2560 B; sliding: 8 x (192 + 128) x 2 = 5120 B.
  CHECK(f.kv_bytes_per_token == 9 * 2560 + 39 * 5120);  // 222720
  CHECK(f.kv_bytes == 9.0 * 2560 * 32768 + 39.0 * 5120 * 128);              // 780533760
  CHECK(at(m, 131072).kv_bytes == 9.0 * 2560 * 131072 + 39.0 * 5120 * 128);  // 3045457920
  // Full attention: q 64*192*4096 + k 4*192*4096 + v 4*128*4096 + o 4096*64*128 = 89128960;
  // sliding: q + k 8*192*4096 + v 8*128*4096 + o + sinks 64 = 94371904.
  CHECK(f.groups.at(0).attn_params_per_layer == 89128960);
  CHECK(f.groups.at(1).attn_params_per_layer == 94371904);
  // 9*89128960 + 39*94371904 + dense 3*4096*16384 + 47*(256*3*4096*2048 + router 4096*256)
  // + embeddings 2*152576*4096 + norms 4096*97 = 308778768832; card (309B total): 0.07 % off.
  CHECK(f.total_params == 308778768832LL);
  CHECK(off(f.total_params, 309e9) < 0.015);
  // Active: attention 4482664896 + dense 201326592 + 47*(8 experts + router) 9511632896 +
  // embeddings + norms = 15445924288. The card's "15B active" matches it without the input
  // embedding: 14820972992 (1.2 % under).
  CHECK(f.active_params == 15445924288LL);
  CHECK(f.active_params_excl_input_embedding == 14820972992LL);
  CHECK(off(f.active_params_excl_input_embedding, 15e9) < 0.015);
}

TEST_CASE("families 2026: MiMo-V2-Flash without the hub's swa_* keys follows transformers' class", "[capacity]") {
  nlohmann::json c = nlohmann::json::parse(kMimoV2Flash);
  for (const char* k : {"swa_num_attention_heads", "swa_num_key_value_heads", "swa_head_dim",
                        "swa_v_head_dim", "hybrid_layer_pattern", "sliding_window_size"}) {
    c.erase(k);
  }
  // MiMoV2FlashConfig: sliding layers double the KV heads; full on layer 0 and every 6th.
  const ModelDesign d = model_from_hf_config(c, "config.json");
  const ModelDesign m = parse(kMimoV2Flash);
  for (size_t i = 0; i < 48; ++i) CHECK(same_layer(d.layers[i], m.layers[i]));
  c["sliding_window_size"] = 256;  // disagrees with sliding_window 128
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("sliding_window_size"));
  nlohmann::json shared = nlohmann::json::parse(kMimoV2Flash);
  shared["n_shared_experts"] = 1;
  CHECK_THROWS_WITH(model_from_hf_config(shared, "config.json"), Catch::Contains("n_shared_experts"));
  nlohmann::json dense = nlohmann::json::parse(kMimoV2Flash);
  dense.erase("moe_layer_freq");  // the class's default: every layer dense
  for (const auto& l : model_from_hf_config(dense, "config.json").layers) CHECK(l.ffn.kind == FfnKind::kDense);
}

TEST_CASE("families 2026: Step-3.5 Flash, 96 query heads on sliding layers, 64 on full, head-wise gates", "[capacity]") {
  const ModelDesign m = parse(kStep35Flash);
  REQUIRE(m.layers.size() == 45);  // layer_types lists 48: the 3 MTP layers are not counted
  for (size_t i = 0; i < 45; ++i) {
    INFO("layer " << i);
    const bool full = i % 4 == 0;
    const AttentionShape& a = m.layers[i].attention;
    CHECK((m.layers[i].span.kind == SpanKind::kFull) == full);
    CHECK(a.heads == (full ? 64 : 96));
    CHECK(a.kv_heads == 8);
    CHECK(a.gate == OutputGate::kHeadwise);
    CHECK(m.layers[i].ffn.kind == (i < 3 ? FfnKind::kDense : FfnKind::kMoe));
  }
  CHECK(m.layers[1].span == AttentionSpan{SpanKind::kSlidingWindow, 512});
  const auto f = at(m, 32768);
  // Every layer: K, V of 8 x 128 in bf16 = 4096 B; 45 layers.
  CHECK(f.kv_bytes_per_token == 45 * 4096);  // 184320
  CHECK(f.kv_bytes == 12.0 * 4096 * 32768 + 33.0 * 4096 * 512);              // 1679818752
  CHECK(at(m, 131072).kv_bytes == 12.0 * 4096 * 131072 + 33.0 * 4096 * 512);  // 6511656960
  // Full: q 64*128*4096 + k, v 2*8*128*4096 + o 4096*8192 + g_proj 64*4096 + q/k norms 256
  // = 75759872; sliding: q 96*128*4096 + k, v + o 4096*12288 + g_proj 96*4096 + 256 = 109445376.
  CHECK(f.groups.at(0).attn_params_per_layer == 75759872);
  CHECK(f.groups.at(1).attn_params_per_layer == 109445376);
  // 12*75759872 + 33*109445376 + 3 dense 3*4096*11264 + 42*(288*3*4096*1280 + shared 3*4096*1280
  // + router 4096*288) + embeddings 2*128896*4096 + norms 4096*91 = 196956118272; card: 196 B
  // total (0.5 % off; the MTP layers are outside).
  CHECK(f.total_params == 196956118272LL);
  CHECK(off(f.total_params, 196e9) < 0.015);
  // The card's "11B active" excludes both embedding tables: 10931395840 (0.6 % under).
  CHECK(f.active_params_excl_embeddings == 10931395840LL);
  CHECK(off(f.active_params_excl_embeddings, 11e9) < 0.015);
}

TEST_CASE("families 2026: Step-3.5 layer lists are checked, unmodelled attention fails closed", "[capacity]") {
  nlohmann::json c = nlohmann::json::parse(kStep35Flash);
  c["moe_layers_enum"] = "3,45";
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("moe_layers_enum lists layer 45"));
  nlohmann::json s = nlohmann::json::parse(kStep35Flash);
  s["layer_types"] = nlohmann::json::array({"full_attention"});
  CHECK_THROWS_WITH(model_from_hf_config(s, "config.json"), Catch::Contains("layer_types has 1 entries"));
  nlohmann::json mfa = nlohmann::json::parse(kStep35Flash);
  mfa["att_impl_type"] = "MFA";
  CHECK_THROWS_WITH(model_from_hf_config(mfa, "config.json"), Catch::Contains("att_impl_type"));
  // The Step-3.7 wrapper keeps the same text stack in text_config; its vision tower is not counted.
  nlohmann::json wrap = {{"model_type", "step3p7"}, {"text_config", nlohmann::json::parse(kStep35Flash)},
                         {"vision_config", {{"model_type", "perception_encoder"}}}};
  const ModelDesign w = model_from_hf_config(wrap, "config.json");
  CHECK(w.layers.size() == 45);
  CHECK(w.vision_params == ModelDesign::kVisionNotCounted);
}

TEST_CASE("families 2026: Mistral Small 3 (mistral3), text stack and the Pixtral tower", "[capacity]") {
  const ModelDesign m = parse(kMistralSmall3);
  REQUIRE(m.layers.size() == 40);
  for (const auto& l : m.layers) CHECK(l.span.kind == SpanKind::kFull);  // sliding_window null
  const auto f = at(m, 32768);
  // K, V of 8 x 128 bf16 = 4096 B per token and layer.
  CHECK(f.kv_bytes_per_token == 40 * 4096);                  // 163840
  CHECK(f.kv_bytes == 40.0 * 4096 * 32768);                  // 5368709120
  CHECK(at(m, 131072).kv_bytes == 40.0 * 4096 * 131072);     // 21474836480
  // 40 * (q 4096*5120 + k, v 2*1024*5120 + o 5120*4096 + FFN 3*5120*32768) + 2*131072*5120
  // + norms 5120*81 = 23572403200 (the 23.57 B language model a text-only extraction reports).
  CHECK(f.total_params == 23572403200LL);
  // Pixtral: patch_conv 3*14*14*1024 + ln_pre 1024 + 24*(2*1024 + 4*1024^2 + 3*1024*4096)
  // = 403305472; projector: norm 1024 + merging 4096*1024 + linear_1 1024*5120 + linear_2
  // 5120*5120 = 35652608. Text + vision 24011361280: the card's 24 B, 0.05 % off.
  CHECK(f.vision_params == 438958080);
  CHECK(off(f.total_params + f.vision_params, 24e9) < 0.015);
  // Ministral 3 / Devstral 2 (text_config model_type ministral3) read as the same layer.
  nlohmann::json c = nlohmann::json::parse(kMistralSmall3);
  c["text_config"]["model_type"] = "ministral3";
  c["text_config"]["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 48.0}, {"llama_4_scaling_beta", 0.1}};
  const ModelDesign d = model_from_hf_config(c, "config.json");
  for (size_t i = 0; i < 40; ++i) CHECK(same_layer(d.layers[i], m.layers[i]));
  // A text_config without a model_type is Mistral3Config's default, mistral.
  c["text_config"].erase("model_type");
  CHECK(model_from_hf_config(c, "config.json").layers.size() == 40);
}

TEST_CASE("families 2026: Qwen2.5-VL-7B, Qwen2 text stack with biases and its ViT", "[capacity]") {
  const ModelDesign m = parse(kQwen25Vl7b);
  REQUIRE(m.layers.size() == 28);
  CHECK(m.layers[0].attention.qkv_bias);
  CHECK(m.layers[0].span.kind == SpanKind::kFull);  // use_sliding_window false
  const auto f = at(m, 32768);
  // K, V of 4 x 128 in bf16 (the root's torch_dtype; text_config's float32 is a serialisation
  // artefact vLLM does not read) = 2048 B per layer.
  CHECK(m.layers[0].kv_dtype == DType::kBF16);
  CHECK(f.kv_bytes_per_token == 28 * 2048);               // 57344
  CHECK(f.kv_bytes == 28.0 * 2048 * 32768);               // 1879048192
  CHECK(at(m, 131072).kv_bytes == 28.0 * 2048 * 131072);  // 7516192768
  CHECK(at(m, 131072).beyond_max_context);                // past 128000
  // 28 * (q 3584^2 + 3584 + k, v 2*(512*3584 + 512) + o 3584^2 + FFN 3*3584*18944)
  // + 2*152064*3584 + norms 3584*57 = 7615616512.
  CHECK(f.total_params == 7615616512LL);
  // ViT: patch 3*2*14*14*1280 + 32 blocks of 19702200 (norms 2*1280, qkv 3*1280^2 + 3840,
  // proj 1280^2 + 1280, gate/up 2*(3420*1280 + 3420), down 1280*3420 + 1280) + merger (ln_q 1280,
  // 5120^2 + 5120, 3584*5120 + 3584) = 676550144. Text + vision 8292166656: the checkpoint's
  // 8.29 B, 0.03 % off.
  CHECK(f.vision_params == 676550144);
  CHECK(off(f.total_params + f.vision_params, 8.29e9) < 0.015);
  // The older layout without text_config reads the same.
  nlohmann::json c = nlohmann::json::parse(kQwen25Vl7b);
  c.erase("text_config");
  const ModelDesign d = model_from_hf_config(c, "config.json");
  for (size_t i = 0; i < 28; ++i) CHECK(same_layer(d.layers[i], m.layers[i]));
}

TEST_CASE("families 2026: each preset is its published config", "[capacity]") {
  const std::pair<const char*, const char*> pairs[] = {{"gemma-4-31b", kGemma4_31b},
                                                       {"step3.5-flash", kStep35Flash}};
  for (const auto& [name, config] : pairs) {
    INFO(name);
    const ModelDesign p = read_preset(name);
    const ModelDesign c = parse(config);
    REQUIRE(p.layers.size() == c.layers.size());
    for (size_t i = 0; i < p.layers.size(); ++i) CHECK(same_layer(p.layers[i], c.layers[i]));
    CHECK(at(p, 4096).total_params == at(c, 4096).total_params);
    CHECK(p.max_context == c.max_context);
  }
}

TEST_CASE("families 2026: Kimi K2.5 and Qwen3.5-397B-A17B presets against their cards", "[capacity]") {
  // Kimi K2.5 is Kimi K2's MLA stack: latent 512 + RoPE key 64 in bf16 = 1152 B x 61 layers.
  const auto k = at(read_preset("kimi-k2.5"), 32768);
  CHECK(k.kv_bytes_per_token == 61 * 1152);
  CHECK(k.kv_bytes == 61.0 * 1152 * 32768);
  CHECK(at(read_preset("kimi-k2.5"), 131072).kv_bytes == 61.0 * 1152 * 131072);
  CHECK(k.total_params == at(read_preset("kimi-k2"), 4096).total_params);  // the same text stack
  // Card: 1T total, 32B activated. Active without the input embedding 31687072768 (1.0 % off).
  CHECK(off(k.active_params_excl_input_embedding, 32e9) < 0.015);
  // Qwen3.5-397B-A17B: GDN state 64 x 128 x 128 fp32 = 4194304 B + conv 3*(2*16*128 + 64*128)
  // bf16 = 73728 B, 45 layers; K, V of 2 x 256 bf16 = 2048 B, 15 layers.
  const auto q = at(read_preset("qwen3.5-397b-a17b"), 32768);
  CHECK(q.state_bytes_per_sequence == 45.0 * (4194304 + 73728));       // 192061440
  CHECK(q.kv_bytes_per_token == 15 * 2048);
  CHECK(q.kv_bytes == 15.0 * 2048 * 32768 + 192061440);                 // 1198694400
  CHECK(at(read_preset("qwen3.5-397b-a17b"), 131072).kv_bytes == 15.0 * 2048 * 131072 + 192061440);
  // Card "397B": the text stack's 396346104576 is 0.2 % under (its ViT and MTP layer are outside).
  CHECK(off(q.total_params, 397e9) < 0.015);
}
