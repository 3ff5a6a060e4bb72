// Published config.json files of further families (smollm3, exaone4, kimi_linear, cohere2), read as their
// authors published them (the source of each is named above it), with KV at two contexts and the
// parameter counts worked by hand. Each count is compared with the published figure it matches,
// and the convention that figure uses is named.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "gmha/attention/hf_config.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/figures_json.hpp"
#include "gmha/core/error.hpp"
#include "support/hf_fixture.hpp"

using namespace gmha;

namespace {

// The published-config helpers every family test shares (support/hf_fixture.hpp).
constexpr auto parse = gmha::test::parse_config;
constexpr auto at = gmha::test::exact_at;
constexpr auto off = gmha::test::off_by;

// https://huggingface.co/HuggingFaceTB/SmolLM3-3B/blob/main/config.json, as mirrored verbatim by
// github.com/fetchwiki/HuggingFaceTB-SmolLM3-3B (config.json, with model_files.json giving the two
// safetensors shards' sizes). It writes no tie_word_embeddings: SmolLM3Config's default (true).
const char* kSmolLM3_3b = R"({
  "architectures": ["SmolLM3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": 128012, "hidden_act": "silu", "hidden_size": 2048,
  "initializer_range": 0.02, "intermediate_size": 11008,
  "layer_types": ["full_attention","full_attention","full_attention","full_attention",
    "full_attention","full_attention","full_attention","full_attention","full_attention",
    "full_attention","full_attention","full_attention","full_attention","full_attention",
    "full_attention","full_attention","full_attention","full_attention","full_attention",
    "full_attention","full_attention","full_attention","full_attention","full_attention",
    "full_attention","full_attention","full_attention","full_attention","full_attention",
    "full_attention","full_attention","full_attention","full_attention","full_attention",
    "full_attention","full_attention"],
  "max_position_embeddings": 65536, "max_window_layers": 28, "mlp_bias": false,
  "model_type": "smollm3", "no_rope_layer_interval": 4,
  "no_rope_layers": [1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0],
  "num_attention_heads": 16, "num_hidden_layers": 36, "num_key_value_heads": 4,
  "pad_token_id": 128004, "pretraining_tp": 2, "rms_norm_eps": 1e-06, "rope_scaling": null,
  "rope_theta": 5000000.0, "sliding_window": null, "torch_dtype": "bfloat16",
  "transformers_version": "4.54.0.dev0", "use_cache": false, "use_sliding_window": false,
  "vocab_size": 128256
})";

// LGAI-EXAONE/EXAONE-4.0-32B config.json as TensorRT-LLM's test of modeling_exaone4 publishes it
// (EXAONE4_SINGLE_LAYER_CONFIG in tests/unittest/_torch/modeling/test_modeling_exaone4.py), with
// the two fields that test shrinks put back as its own comments give them: num_hidden_layers 64
// ("we use 4 instead of 64(all layers)") and sliding_window 4096 ("4 instead of 4096").
const char* kExaone4_32b = R"({
  "architectures": ["Exaone4ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1,
  "eos_token_id": 361, "head_dim": 128, "hidden_act": "silu", "hidden_size": 5120,
  "initializer_range": 0.02, "intermediate_size": 27392, "max_position_embeddings": 131072,
  "model_type": "exaone4", "num_attention_heads": 40, "num_hidden_layers": 64,
  "num_key_value_heads": 8, "pad_token_id": 0, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 16.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
    "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 1000000, "sliding_window": 4096, "sliding_window_pattern": 4,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.54.0.dev0",
  "use_cache": true, "vocab_size": 102400
})";

// moonshotai/Kimi-Linear-48B-A3B-Instruct config.json: the architecture fields as engines' test
// fixtures reproduce them (the same values in several independent ones, e.g. the Kimi Linear
// descriptions pinned to cyankiwi/Kimi-Linear-48B-A3B-Instruct-AWQ-4bit/config.json@5d029d18 and a
// Rust loader's `released_48b_config_parses_with_one_based_layer_map` test).
const char* kKimiLinear48b = R"({
  "architectures": ["KimiLinearForCausalLM"], "model_type": "kimi_linear", "vocab_size": 163840,
  "hidden_size": 2304, "head_dim": 72, "intermediate_size": 9216, "num_hidden_layers": 27,
  "num_attention_heads": 32, "num_key_value_heads": 32, "hidden_act": "silu",
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "rope_scaling": null,
  "tie_word_embeddings": false, "first_k_dense_replace": 1, "moe_intermediate_size": 1024,
  "moe_layer_freq": 1, "moe_renormalize": true, "moe_router_activation_func": "sigmoid",
  "num_experts": 256, "num_experts_per_token": 8, "num_shared_experts": 1,
  "routed_scaling_factor": 2.446, "use_grouped_topk": true, "num_expert_group": 1,
  "topk_group": 1, "q_lora_rank": null, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
  "qk_rope_head_dim": 64, "v_head_dim": 128, "mla_use_nope": true, "num_nextn_predict_layers": 0,
  "linear_attn_config": {"full_attn_layers": [4, 8, 12, 16, 20, 24, 27], "head_dim": 128,
    "kda_layers": [1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19, 21, 22, 23, 25, 26],
    "num_heads": 32, "short_conv_kernel_size": 4},
  "use_cache": true
})";

// https://huggingface.co/Qwen/Qwen3.5-0.8B/resolve/main/config.json, verbatim as fetched into a
// public agent transcript (curl of that URL, 2026-05-25).
const char* kQwen35_08b = R"({
  "architectures": ["Qwen3_5ForConditionalGeneration"], "image_token_id": 248056,
  "model_type": "qwen3_5",
  "text_config": {"attention_bias": false, "attention_dropout": 0.0, "attn_output_gate": true,
    "dtype": "bfloat16", "eos_token_id": 248044, "full_attention_interval": 4, "head_dim": 256,
    "hidden_act": "silu", "hidden_size": 1024, "initializer_range": 0.02,
    "intermediate_size": 3584,
    "layer_types": ["linear_attention","linear_attention","linear_attention","full_attention",
      "linear_attention","linear_attention","linear_attention","full_attention",
      "linear_attention","linear_attention","linear_attention","full_attention",
      "linear_attention","linear_attention","linear_attention","full_attention",
      "linear_attention","linear_attention","linear_attention","full_attention",
      "linear_attention","linear_attention","linear_attention","full_attention"],
    "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_num_key_heads": 16,
    "linear_num_value_heads": 16, "linear_value_head_dim": 128,
    "max_position_embeddings": 262144, "mlp_only_layers": [], "model_type": "qwen3_5_text",
    "mtp_num_hidden_layers": 1, "mtp_use_dedicated_embeddings": false,
    "num_attention_heads": 8, "num_hidden_layers": 24, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06, "tie_word_embeddings": true, "use_cache": true,
    "vocab_size": 248320, "mamba_ssm_dtype": "float32",
    "rope_parameters": {"mrope_interleaved": true, "mrope_section": [11, 11, 10],
      "rope_type": "default", "rope_theta": 10000000, "partial_rotary_factor": 0.25}},
  "tie_word_embeddings": true, "transformers_version": "4.57.0.dev0", "video_token_id": 248057,
  "vision_config": {"deepstack_visual_indexes": [], "depth": 12, "hidden_act": "gelu_pytorch_tanh",
    "hidden_size": 768, "in_channels": 3, "initializer_range": 0.02, "intermediate_size": 3072,
    "model_type": "qwen3_5", "num_heads": 12, "num_position_embeddings": 2304,
    "out_hidden_size": 1024, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2},
  "vision_end_token_id": 248054, "vision_start_token_id": 248053
})";

// Qwen3.5-35B-A3B's architecture as published in a Qwen3.6-35B-A3B config.json (the same
// Qwen3_5MoeForConditionalGeneration geometry, field for field: an inventory of both snapshots,
// Qwen3.5 ec2d4ece, Qwen3.6 7da11034, lists the same values), as a public checkpoint validator
// reproduces it (valid_qwen36_config); its ModelOpt quantization_config is left out.
const char* kQwen35_35b_a3b = R"({
  "architectures": ["Qwen3_5MoeForConditionalGeneration"], "dtype": "bfloat16",
  "image_token_id": 248056, "model_type": "qwen3_5_moe",
  "text_config": {"attention_bias": false, "attention_dropout": 0.0, "attn_output_gate": true,
    "bos_token_id": 248044, "dtype": "bfloat16", "eos_token_id": 248044,
    "full_attention_interval": 4, "head_dim": 256, "hidden_act": "silu", "hidden_size": 2048,
    "layer_types": ["linear_attention","linear_attention","linear_attention","full_attention",
      "linear_attention","linear_attention","linear_attention","full_attention",
      "linear_attention","linear_attention","linear_attention","full_attention",
      "linear_attention","linear_attention","linear_attention","full_attention",
      "linear_attention","linear_attention","linear_attention","full_attention",
      "linear_attention","linear_attention","linear_attention","full_attention",
      "linear_attention","linear_attention","linear_attention","full_attention",
      "linear_attention","linear_attention","linear_attention","full_attention",
      "linear_attention","linear_attention","linear_attention","full_attention",
      "linear_attention","linear_attention","linear_attention","full_attention"],
    "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_num_key_heads": 16,
    "linear_num_value_heads": 32, "linear_value_head_dim": 128, "mamba_ssm_dtype": "float32",
    "max_position_embeddings": 262144, "model_type": "qwen3_5_moe_text",
    "moe_intermediate_size": 512, "mtp_num_hidden_layers": 1,
    "mtp_use_dedicated_embeddings": false, "num_attention_heads": 16, "num_experts": 256,
    "num_experts_per_tok": 8, "num_hidden_layers": 40, "num_key_value_heads": 2,
    "output_router_logits": false, "pad_token_id": null, "partial_rotary_factor": 0.25,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {"mrope_interleaved": true, "mrope_section": [11, 11, 10],
      "partial_rotary_factor": 0.25, "rope_theta": 10000000, "rope_type": "default"},
    "shared_expert_intermediate_size": 512, "tie_word_embeddings": false, "use_cache": true,
    "vocab_size": 248320},
  "tie_word_embeddings": false, "video_token_id": 248057,
  "vision_config": {"deepstack_visual_indexes": [], "depth": 27, "dtype": "bfloat16",
    "hidden_act": "gelu_pytorch_tanh", "hidden_size": 1152, "in_channels": 3,
    "intermediate_size": 4304, "model_type": "qwen3_5_moe_vision", "num_heads": 16,
    "num_position_embeddings": 2304, "out_hidden_size": 2048, "patch_size": 16,
    "spatial_merge_size": 2, "temporal_patch_size": 2},
  "vision_end_token_id": 248054, "vision_start_token_id": 248053
})";

// zai-org/GLM-5 config.json: its architecture fields exactly as GPTQModel's test pins them
// (_UPSTREAM_GLM5_MODELING_SIGNATURE, "snapshot from the current upstream config.json files
// fetched on 2026-04-07", tests of gptqmodel's glm_moe_dsa definition). That signature omits the
// vocabulary: vocab_size 154880 and untied embeddings are the GLM-5 family's published values
// (GLM-5.2's config.json as pinned by a public checkpoint validator; GLM-4.7-Flash's config.json).
const char* kGlm5 = R"({
  "architectures": ["GlmMoeDsaForCausalLM"], "first_k_dense_replace": 3, "hidden_act": "silu",
  "hidden_size": 6144, "index_head_dim": 128, "index_n_heads": 32, "index_topk": 2048,
  "intermediate_size": 12288, "kv_lora_rank": 512, "max_position_embeddings": 202752,
  "model_type": "glm_moe_dsa", "moe_intermediate_size": 2048, "n_routed_experts": 256,
  "n_shared_experts": 1, "num_attention_heads": 64, "num_experts_per_tok": 8,
  "num_hidden_layers": 78, "num_key_value_heads": 64, "q_lora_rank": 2048,
  "qk_nope_head_dim": 192, "qk_rope_head_dim": 64,
  "rope_parameters": {"rope_theta": 1000000, "rope_type": "default"}, "v_head_dim": 256,
  "vocab_size": 154880, "tie_word_embeddings": false
})";

// An OLMo 3 config at the 7B's attention geometry as an engine's config-loader test publishes it
// (RopeScalingConfigTest.Olmo3LayerPatternAndYarn: 8 layers of the 32-layer stack, its
// layer_types pattern and YaRN block). No verbatim allenai/Olmo-3-1025-7B config.json was found,
// so this fixture checks the reader and Olmo3Config's defaults (intermediate_size 11008,
// vocab_size 50304 fill what it omits), not the 7B's parameter count.
const char* kOlmo3Fixture = R"({
  "architectures": ["Olmo3ForCausalLM"], "model_type": "olmo3",
  "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 32,
  "num_hidden_layers": 8, "rope_theta": 500000, "sliding_window": 4096,
  "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
                  "sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
  "rope_scaling": {"attention_factor": 1.2079441541679836, "beta_fast": 32.0, "beta_slow": 1.0,
                   "factor": 8.0, "original_max_position_embeddings": 8192, "rope_type": "yarn"}
})";

// microsoft/Phi-3-medium-4k-instruct config.json as llm-engine's hardware-inference test
// publishes it (test_infer_hardware, the Phi3ForCausalLM config beside phi-3-medium).
const char* kPhi3Medium = R"({
  "architectures": ["Phi3ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1,
  "embd_pdrop": 0.0, "eos_token_id": 32000, "hidden_act": "silu", "hidden_size": 5120,
  "initializer_range": 0.02, "intermediate_size": 17920, "max_position_embeddings": 4096,
  "model_type": "phi3", "num_attention_heads": 40, "num_hidden_layers": 40,
  "num_key_value_heads": 10, "original_max_position_embeddings": 4096, "pad_token_id": 32000,
  "resid_pdrop": 0.0, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0,
  "sliding_window": 2047, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.39.3", "use_cache": true, "attention_bias": false,
  "vocab_size": 32064
})";

// Qwen/Qwen3-VL-8B-Instruct config.json as TensorRT-LLM's Qwen3-VL test publishes it
// (QWEN3_VL_8B_CONFIG, _name_or_path Qwen3-VL-8B-Instruct), with the layer count that test
// shrinks put back as its own comment gives it ("Only 4 layers for testing, 36 layers for full
// model").
const char* kQwen3Vl8b = R"({
  "architectures": ["Qwen3VLForConditionalGeneration"], "image_token_id": 151655,
  "model_type": "qwen3_vl",
  "text_config": {"attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 151643,
    "dtype": "bfloat16", "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 12288,
    "max_position_embeddings": 262144, "model_type": "qwen3_vl_text", "num_attention_heads": 32,
    "num_hidden_layers": 36, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
    "rope_scaling": {"mrope_interleaved": true, "mrope_section": [24, 20, 20], "rope_type": "default"},
    "rope_theta": 5000000, "tie_word_embeddings": false, "use_cache": true, "vocab_size": 151936},
  "tie_word_embeddings": false, "transformers_version": "4.57.0.dev0", "video_token_id": 151656,
  "vision_config": {"deepstack_visual_indexes": [8, 16, 24], "depth": 27,
    "hidden_act": "gelu_pytorch_tanh", "hidden_size": 1152, "in_channels": 3,
    "initializer_range": 0.02, "intermediate_size": 4304, "model_type": "qwen3_vl",
    "num_heads": 16, "num_position_embeddings": 2304, "out_hidden_size": 4096, "patch_size": 16,
    "spatial_merge_size": 2, "temporal_patch_size": 2},
  "vision_end_token_id": 151653, "vision_start_token_id": 151652
})";

}  // namespace

TEST_CASE("families: SmolLM3-3B, NoPE layers still cache", "[capacity]") {
  const ModelDesign m = parse(kSmolLM3_3b);
  REQUIRE(m.layers.size() == 36);
  CHECK(m.tied_embeddings);  // omitted: SmolLM3Config's default
  int nope = 0;
  for (const auto& l : m.layers) nope += !l.rope;
  CHECK(nope == 9);            // layers 3, 7, ..., 35
  CHECK_FALSE(m.layers[3].rope);
  const auto f = at(m, 32768);
  // Every layer, NoPE or not, caches K and V of 4 heads x 128 in bf16: 2*4*128*2 = 2048 B.
  CHECK(f.kv_bytes_per_token == 36 * 2048);  // 73728
  CHECK(f.cache_owning_layers == 36);
  CHECK(f.kv_bytes == 36.0 * 2048 * 32768);                    // 2415919104
  CHECK(at(m, 131072).kv_bytes == 36.0 * 2048 * 131072);       // 9663676416
  // Per layer: q 2048*2048 + k, v 512*2048 + o 2048*2048 = 10485760; FFN 3*2048*11008 = 67633152.
  // 36 * 78118912 + tied embedding 128256*2048 + norms 2048*73 = 3075098624.
  CHECK(f.total_params == 3075098624LL);
  // The checkpoint: two bf16 shards of 4966315264 + 1183919744 B = 3075117504 elements with
  // their JSON headers (37760 B apart); the card's "3B" rounds the same count (2.5 % below).
  CHECK(off(f.total_params, (4966315264.0 + 1183919744.0) / 2) < 1e-4);
  CHECK(f.active_params_excl_embeddings == 3075098624LL - 262668288LL);
}

TEST_CASE("families: SmolLM3 without layer_types but with use_sliding_window fails closed", "[capacity]") {
  nlohmann::json c = nlohmann::json::parse(kSmolLM3_3b);
  c.erase("layer_types");
  CHECK(model_from_hf_config(c, "config.json").layers.size() == 36);  // all full, as published
  c["use_sliding_window"] = true;
  c["sliding_window"] = 4096;
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("use_sliding_window"));
  // no_rope_layers omitted: no_rope_layer_interval 4 gives the same NoPE layers.
  nlohmann::json d = nlohmann::json::parse(kSmolLM3_3b);
  d.erase("no_rope_layers");
  const ModelDesign m = model_from_hf_config(d, "config.json");
  for (size_t i = 0; i < 36; ++i) CHECK(m.layers[i].rope == ((i + 1) % 4 != 0));
}

TEST_CASE("families: EXAONE-4.0-32B, 48 sliding-4096 + 16 global NoPE layers", "[capacity]") {
  const ModelDesign m = parse(kExaone4_32b);
  REQUIRE(m.layers.size() == 64);
  for (size_t i = 0; i < 64; ++i) {
    INFO("layer " << i);
    const bool global = (i + 1) % 4 == 0;
    CHECK((m.layers[i].span.kind == SpanKind::kFull) == global);
    CHECK(m.layers[i].rope == !global);  // global layers use no RoPE
  }
  CHECK(m.layers[0].span == AttentionSpan{SpanKind::kSlidingWindow, 4096});
  const auto f = at(m, 32768);
  // K, V of 8 x 128 bf16 = 4096 B per token and layer, all 64 layers.
  CHECK(f.kv_bytes_per_token == 64 * 4096);  // 262144
  // 16 global layers keep T, 48 sliding keep min(T, 4096):
  CHECK(f.kv_bytes == 16.0 * 4096 * 32768 + 48.0 * 4096 * 4096);    // 2952790016
  CHECK(at(m, 131072).kv_bytes == 16.0 * 4096 * 131072 + 48.0 * 4096 * 4096);  // 9395240960
  // Per layer: q 5120*5120 + k, v 1024*5120 + o 5120*5120 + q/k norms 2*128 = 62914816; FFN
  // 3*5120*27392 = 420741120. 64 * 483655936 + norms 5120*129 = 30954640384 without embeddings;
  // card (huggingface.co/LGAI-EXAONE/EXAONE-4.0-32B): "30.95B" without embeddings.
  CHECK(f.active_params_excl_embeddings == 30954640384LL);
  CHECK(off(f.active_params_excl_embeddings, 30.95e9) < 0.015);
  CHECK(f.total_params == 30954640384LL + 2LL * 102400 * 5120);  // 32003216384
}

TEST_CASE("families: EXAONE 4 reads letter patterns and a null sliding_window", "[capacity]") {
  nlohmann::json c = nlohmann::json::parse(kExaone4_32b);
  c["sliding_window_pattern"] = "LLLG";
  const ModelDesign letters = model_from_hf_config(c, "config.json");
  const ModelDesign number = parse(kExaone4_32b);
  for (size_t i = 0; i < 64; ++i) CHECK(same_layer(letters.layers[i], number.layers[i]));
  c["sliding_window_pattern"] = "LXG";
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("sliding_window_pattern"));
  // EXAONE-4.0-1.2B writes sliding_window null: every layer global, with RoPE.
  c["sliding_window"] = nullptr;
  const ModelDesign full = model_from_hf_config(c, "config.json");
  for (const auto& l : full.layers) {
    CHECK(l.span.kind == SpanKind::kFull);
    CHECK(l.rope);
  }
}

TEST_CASE("families: Kimi Linear 48B-A3B, 20 KDA + 7 MLA layers", "[capacity]") {
  const ModelDesign m = parse(kKimiLinear48b);
  REQUIRE(m.layers.size() == 27);
  for (size_t i = 0; i < 27; ++i) {
    INFO("layer " << i);
    // full_attn_layers are 1-based: 4, 8, ..., 24 and 27 are layers 3, 7, ..., 23 and 26.
    const bool mla = (i + 1) % 4 == 0 || i == 26;
    CHECK((mixer_kind(m.layers[i]) == MixerKind::kSoftmax) == mla);
  }
  CHECK(m.layers[0].ffn.kind == FfnKind::kDense);
  CHECK(m.layers[1].ffn.kind == FfnKind::kMoe);
  const auto f = at(m, 32768);
  REQUIRE(f.kinds.size() == 2);
  const auto& kda = f.kinds[0].spec.attention.variant == Variant::kLinear ? f.kinds[0] : f.kinds[1];
  CHECK(kda.layer_count == 20);
  CHECK_FALSE(kda.softmax_ranks.has_value());
  CHECK(kda.recurrent.state_capacity == 32 * 128 * 128);
  // KDA state 32*128*128 fp32 = 2097152 B; q/k/v conv states (4-1)*(3*4096) bf16 = 73728 B.
  CHECK(kda.state_bytes_per_layer == 2097152.0 + 73728.0);
  CHECK(f.state_bytes_per_sequence == 20.0 * 2170880);  // 43417600
  // MLA latent 512 + RoPE key 64 in bf16 = 1152 B per token, 7 layers (NoPE MLA caches the
  // RoPE slice all the same).
  CHECK(f.kv_bytes_per_token == 7 * 1152);  // 8064
  CHECK(f.kv_bytes == 7.0 * 1152 * 32768 + 43417600);             // 307658752
  CHECK(at(m, 131072).kv_bytes == 7.0 * 1152 * 131072 + 43417600);  // 1100382208
  // KDA: q, k, v 3*4096*2304 + convs 3*4096*4 + f_a 128*2304 + f_b 4096*128 + b 32*2304 + A_log 32
  // + dt_bias 4096 + g_a 128*2304 + g_b 4096*128 + o_norm 128 + o 2304*4096 = 39514272.
  CHECK(kda.spec.attention.recurrent == RecurrentKind::kKda);
  CHECK(f.groups.at(0).attn_params_per_layer == 39514272);
  // MLA (no q compression): q 32*192*2304 + kv_a 576*2304 + 512 + kv_b 32*256*512 + o 2304*4096
  // = 29114880. Total = 20*39514272 + 7*29114880 + dense 3*2304*9216 + 26*(257 experts
  // 3*2304*1024 + router 2304*256) + embeddings 2*163840*2304 + norms 2304*55 = 49122675072.
  // The checkpoint's tensor inventory adds the 26 routers' 256 score-correction biases (6656).
  // The card's "48B total, 3B activated" are rounded: 2.3 % under this count; active is
  // 3484453248 with both embeddings, 2729478528 without them.
  CHECK(f.total_params == 49122675072LL);
  CHECK(off(f.total_params, 49122675072.0 + 6656) < 1e-6);
  CHECK(f.active_params == 3484453248LL);
  CHECK(f.active_params_excl_embeddings == 2729478528LL);
}

TEST_CASE("families: Kimi Linear layer lists are checked and K3 extensions fail closed", "[capacity]") {
  nlohmann::json c = nlohmann::json::parse(kKimiLinear48b);
  c["linear_attn_config"]["full_attn_layers"] = {4, 8, 12, 16, 20, 24};  // layer 27 missing
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("layer 27"));
  c["linear_attn_config"]["full_attn_layers"] = {4, 8, 12, 16, 20, 24, 27, 1};  // 1 listed twice
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("full_attn_layers lists layer 1"));
  nlohmann::json k3 = nlohmann::json::parse(kKimiLinear48b);
  k3["mla_use_output_gate"] = true;
  CHECK_THROWS_WITH(model_from_hf_config(k3, "config.json"), Catch::Contains("mla_use_output_gate"));
  nlohmann::json bare = nlohmann::json::parse(kKimiLinear48b);
  bare.erase("linear_attn_config");
  CHECK_THROWS_WITH(model_from_hf_config(bare, "config.json"), Catch::Contains("linear_attn_config"));
}

TEST_CASE("families: Qwen3.5-0.8B, 18 Gated DeltaNet + 6 gated GQA layers, fp32 states", "[capacity]") {
  const ModelDesign m = parse(kQwen35_08b);
  REQUIRE(m.layers.size() == 24);
  CHECK(m.tied_embeddings);
  const auto f = at(m, 32768);
  // GDN state 16*128*128 in fp32 (mamba_ssm_dtype) = 1048576 B; conv (4-1)*(2*2048+2048) bf16
  // = 36864 B; 18 layers.
  CHECK(f.state_bytes_per_sequence == 18.0 * (1048576 + 36864));  // 19537920
  // K, V of 2 x 256 bf16 = 2048 B per token, 6 full layers.
  CHECK(f.kv_bytes_per_token == 6 * 2048);
  CHECK(f.kv_bytes == 6.0 * 2048 * 32768 + 19537920);             // 422191104
  CHECK(at(m, 131072).kv_bytes == 6.0 * 2048 * 131072 + 19537920);  // 1630150656
  // GDN: in_proj_qkvz 8192*1024 + in_proj_ba 32*1024 + conv 6144*4 + 16 + 16 + 128 + out
  // 1024*2048 = 10543264; gated GQA: q 4096*1024 + k, v 512*1024 + norms 512 + o 1024*2048
  // = 7340544; FFN 3*1024*3584 = 11010048.
  CHECK(f.groups.at(0).attn_params_per_layer == 10543264);
  // 18*(10543264+11010048) + 6*(7340544+11010048) + tied 248320*1024 + norms 1024*49.
  CHECK(f.total_params == 752393024LL);
  // Vision (Qwen3-VL ViT): patch 3*2*16*16*768+768 + positions 2304*768 + 12 blocks of 7087872
  // + merger 2*768 + 3072*3072+3072 + 1024*3072+1024 = 100592896. The name's "0.8B" rounds the
  // text stack (0.752 B) or text + vision (0.853 B): neither is within 1.5 % of it.
  CHECK(f.vision_params == 100592896);
}

TEST_CASE("families: Qwen3.5-35B-A3B, 30 GDN + 10 gated GQA layers, 256 experts top-8", "[capacity]") {
  const ModelDesign m = parse(kQwen35_35b_a3b);
  REQUIRE(m.layers.size() == 40);
  const auto f = at(m, 32768);
  // GDN state 32*128*128 fp32 = 2097152 B + conv 3*(4096+4096) bf16 = 49152 B; 30 layers.
  CHECK(f.state_bytes_per_sequence == 30.0 * (2097152 + 49152));  // 64389120
  CHECK(f.kv_bytes_per_token == 10 * 2048);                       // 20480
  CHECK(f.kv_bytes == 10.0 * 2048 * 32768 + 64389120);            // 735477760
  CHECK(at(m, 131072).kv_bytes == 10.0 * 2048 * 131072 + 64389120);  // 2748743680
  // 30*33718464 (GDN) + 10*27263488 (gated GQA) + 40*(257*3*2048*512 + router 2048*256)
  // + embeddings 2*248320*2048 + norms 2048*81 = 34660528768 (text stack).
  CHECK(f.total_params == 34660528768LL);
  // Vision: patch 3*2*16*16*1152+1152 + positions 2304*1152 + 27 blocks of 15239504 + merger
  // 30679808 = 446571248. Card "35B": text + vision 35107100016 is 0.3 % over it (the MTP
  // layer is outside num_hidden_layers and not counted).
  CHECK(f.vision_params == 446571248);
  CHECK(off(f.total_params + f.vision_params, 35e9) < 0.015);
  // Active: 1284188800 attention + 40*(9*3*2048*512 + router 524288) + embeddings + norms.
  // "A3B": 2.95 B without the input embedding (1.8 % under), 3.45 B with both.
  CHECK(f.active_params == 3454907008LL);
  CHECK(f.active_params_excl_input_embedding == 3454907008LL - 508559360LL);
}

TEST_CASE("families: vision towers are counted where modelled, else reported as not counted", "[capacity]") {
  const auto json_of = [](const ModelDesign& m) {
    return figures_to_json(at(m, 4096), nullptr, Convention::kExact);
  };
  CHECK(json_of(parse(kQwen35_35b_a3b)).at("vision_params") == 446571248);
  CHECK(json_of(parse(kSmolLM3_3b)).at("vision_params") == 0);  // text-only: no tower
  // A SigLIP tower (Gemma 3) is not modelled: present, not counted, null in JSON.
  nlohmann::json c = nlohmann::json::parse(kSmolLM3_3b);
  c["vision_config"] = {{"model_type", "siglip_vision_model"}, {"hidden_size", 1152}};
  const ModelDesign m = model_from_hf_config(c, "config.json");
  CHECK(m.vision_params == ModelDesign::kVisionNotCounted);
  CHECK(json_of(m).at("vision_params").is_null());
}

TEST_CASE("families: GLM-5, MLA (qk_nope 192, v 256) with the DSA indexer, top-2048", "[capacity]") {
  const ModelDesign m = parse(kGlm5);
  REQUIRE(m.layers.size() == 78);
  CHECK(m.layers[0].span == AttentionSpan{SpanKind::kTopK, 2048});
  CHECK(m.layers[2].ffn.kind == FfnKind::kDense);
  CHECK(m.layers[3].ffn.kind == FfnKind::kMoe);
  const auto f = at(m, 32768);
  // Latent 512 + RoPE key 64 in bf16 = 1152 B, + index key 128 fp8 + fp32 scale = 132 B.
  CHECK(f.kv_bytes_per_token == 78 * 1284);  // 100152
  CHECK(f.indexer_bytes_per_token == 78 * 132);
  CHECK(f.kv_bytes == 78.0 * 32768 * 1284);                  // 3281780736
  CHECK(at(m, 131072).kv_bytes == 78.0 * 131072 * 1284);     // 13127122944
  // Decode reads 2048 selected latents and every index key.
  CHECK(f.decode_kv_bytes_read == 78.0 * (2048 * 1152 + 32768 * 132));  // 521404416
  // q_a 2048*6144 + 2048 + q_b 64*256*2048 + kv_a 576*6144 + 512 + kv_b 64*448*512
  // + o 6144*64*256 + indexer (wq_b 4096*2048 + wk 128*6144 + 256 + weights 32*6144) = 174394112.
  CHECK(f.groups.at(0).attn_params_per_layer == 174394112);
  // 78*174394112 + 3*3*6144*12288 + 75*(257*3*6144*2048 + 6144*256) + 2*154880*6144
  // + norms 6144*157 = 743911199232; card: 744 B total (0.01 % off; the MTP layer is outside).
  CHECK(f.total_params == 743911199232LL);
  CHECK(off(f.total_params, 744e9) < 0.015);
  // The card's "40B active" excludes both embedding tables: 39881544192 (0.3 % off).
  CHECK(f.active_params_excl_embeddings == 39881544192LL);
  CHECK(off(f.active_params_excl_embeddings, 40e9) < 0.015);
}

TEST_CASE("families: GLM-5 mlp_layer_types is checked and GLM-5.2's shared indexers fail closed", "[capacity]") {
  nlohmann::json c = nlohmann::json::parse(kGlm5);
  std::vector<std::string> types(78, "sparse");
  types[0] = types[1] = types[2] = "dense";
  c["mlp_layer_types"] = types;
  CHECK(model_from_hf_config(c, "config.json").layers.size() == 78);
  c["mlp_layer_types"][3] = "dense";
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("mlp_layer_types[3]"));
  nlohmann::json shared = nlohmann::json::parse(kGlm5);
  shared["index_topk_freq"] = 4;
  CHECK_THROWS_WITH(model_from_hf_config(shared, "config.json"), Catch::Contains("index_topk_freq"));
}

TEST_CASE("families: each preset is its published config", "[capacity]") {
  const std::pair<const char*, const char*> pairs[] = {
      {"glm-5", kGlm5}, {"kimi-linear-48b-a3b", kKimiLinear48b}, {"qwen3.5-35b-a3b", kQwen35_35b_a3b}};
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

TEST_CASE("families: OLMo 3, three sliding-4096 layers to one full, Olmo3Config defaults", "[capacity]") {
  const ModelDesign m = parse(kOlmo3Fixture);
  REQUIRE(m.layers.size() == 8);
  CHECK(m.layers[0].span == AttentionSpan{SpanKind::kSlidingWindow, 4096});
  CHECK(m.layers[3].span.kind == SpanKind::kFull);
  CHECK(m.vocab_size == 50304);                            // omitted: Olmo3Config's default
  CHECK(m.layers[0].ffn.intermediate == 11008);           // likewise
  CHECK(m.layers[0].attention.qk_norm_per_layer);
  const auto f = at(m, 32768);
  // MHA: K, V of 32 x 128 bf16 = 16384 B per token and layer; 2 full + 6 sliding layers.
  CHECK(f.kv_bytes_per_token == 8 * 16384);
  CHECK(f.kv_bytes == 2.0 * 16384 * 32768 + 6.0 * 16384 * 4096);    // 1476395008
  CHECK(at(m, 131072).kv_bytes == 2.0 * 16384 * 131072 + 6.0 * 16384 * 4096);  // 4697620480
  // 4*4096^2 + q_norm 4096 + k_norm 4096 per layer (over whole projections, as OLMo 2).
  CHECK(f.groups.at(0).attn_params_per_layer == 67108864 + 8192);
  // Without layer_types the default pattern is the same.
  nlohmann::json c = nlohmann::json::parse(kOlmo3Fixture);
  c.erase("layer_types");
  const ModelDesign d = model_from_hf_config(c, "config.json");
  for (size_t i = 0; i < 8; ++i) CHECK(same_layer(d.layers[i], m.layers[i]));
}

TEST_CASE("families: Phi-3-medium, GQA 40/10 with a 2047-token window on every layer", "[capacity]") {
  const ModelDesign m = parse(kPhi3Medium);
  REQUIRE(m.layers.size() == 40);
  for (const auto& l : m.layers) CHECK(l.span == AttentionSpan{SpanKind::kSlidingWindow, 2047});
  // K, V of 10 x 128 bf16 = 5120 B per token and layer.
  const auto f = at(m, 4096);
  CHECK(f.kv_bytes_per_token == 40 * 5120);               // 204800
  CHECK(f.kv_bytes == 40.0 * 5120 * 2047);                // 419225600: the window caps the cache
  CHECK(at(m, 1024).kv_bytes == 40.0 * 5120 * 1024);      // 209715200: under the window
  CHECK(at(m, 32768).beyond_max_context);                 // past max_position_embeddings 4096
  // Per layer: q 5120^2 + k, v 1280*5120 + o 5120^2 = 65536000; FFN 3*5120*17920 = 275251200.
  // 40 * 340787200 + embeddings 2*32064*5120 + norms 5120*81 = 13960238080; card: 14 B (0.3 %).
  CHECK(f.total_params == 13960238080LL);
  CHECK(off(f.total_params, 14e9) < 0.015);
  nlohmann::json phi4_mini = nlohmann::json::parse(kPhi3Medium);
  phi4_mini["partial_rotary_factor"] = 0.75;  // read (RoPE width), not refused
  CHECK(model_from_hf_config(phi4_mini, "config.json").layers[0].attention.rotary_dim == 96);
}

TEST_CASE("families: Qwen3-VL-8B, Qwen3 text stack and a ViT with three deepstack mergers", "[capacity]") {
  const ModelDesign m = parse(kQwen3Vl8b);
  REQUIRE(m.layers.size() == 36);
  const auto f = at(m, 32768);
  // K, V of 8 x 128 bf16 = 4096 B per token and layer.
  CHECK(f.kv_bytes_per_token == 36 * 4096);                  // 147456
  CHECK(f.kv_bytes == 36.0 * 4096 * 32768);                  // 4831838208
  CHECK(at(m, 131072).kv_bytes == 36.0 * 4096 * 131072);     // 19327352832
  // 36 * (q 4096^2 + k, v 1024*4096 + o 4096^2 + FFN 3*4096*12288 + q/k norms 2*128)
  // + 2*151936*4096 + 4096*73 = 8190735360 (text).
  CHECK(f.total_params == 8190735360LL);
  // ViT: patch 1770624 + positions 2654208 + 27 blocks of 15239504 + merger 2*1152 +
  // 4608*4608+4608 + 4096*4608+4096 = 40119040 + 3 deepstack mergers (norm over 4608) of
  // 40125952 each = 576388336. Text + vision = 8767114480. The name's "8B" is not within 1.5 %
  // of either count (text 2.4 % over it); no finer published figure was found to hold it to.
  CHECK(f.vision_params == 576388336);
}

namespace {

// CohereForAI/c4ai-command-r7b-12-2024 config.json as published in the fork
// huggingface.co/huihui-ai/c4ai-command-r7b-12-2024-abliterated (config.json, "_name_or_path":
// "CohereForAI/c4ai-command-r7b-12-2024"; abliteration edits weights, not the config).
const char* kCommandR7b = R"({
  "_name_or_path": "CohereForAI/c4ai-command-r7b-12-2024", "architectures": ["Cohere2ForCausalLM"],
  "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 5, "cache_implementation": "hybrid",
  "eos_token_id": 255001, "head_dim": 128, "hidden_act": "silu", "hidden_size": 4096,
  "initializer_range": 0.02, "intermediate_size": 14336, "layer_norm_eps": 1e-05, "layer_switch": 4,
  "logit_scale": 0.25, "max_position_embeddings": 8192, "model_type": "cohere2",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "order_of_interleaved_layers": "local_attn_first", "pad_token_id": 0,
  "position_embedding_type": "rope_gptj", "rope_scaling": null, "rope_theta": 50000, "rotary_pct": 1.0,
  "sliding_window": 4096, "sliding_window_pattern": 4, "torch_dtype": "bfloat16",
  "transformers_version": "4.48.0.dev0", "use_cache": true, "use_embedding_sharing": true,
  "use_gated_activation": true, "use_parallel_block": true, "use_parallel_embedding": true,
  "vocab_size": 256000})";

}  // namespace

TEST_CASE("families: Command R7B (cohere2), 24 sliding-4096 RoPE + 8 global NoPE layers", "[capacity]") {
  const ModelDesign m = parse(kCommandR7b);
  REQUIRE(m.layers.size() == 32);
  for (size_t i = 0; i < 32; ++i) {
    INFO(i);
    const bool global = (i + 1) % 4 == 0;
    CHECK(m.layers[i].span.kind == (global ? SpanKind::kFull : SpanKind::kSlidingWindow));
    CHECK(m.layers[i].rope == !global);  // NoPE global layers
  }
  CHECK(m.tied_embeddings);
  // Every layer caches K, V of 8 x 128 bf16: 4,096 B per layer, 131,072 B per token.
  const ModelFigures f4k = at(m, 4096), f8k = at(m, 8192);
  CHECK(f4k.kv_bytes_per_token == 131072);
  // At 4K the windows are not yet full: 32 x 4,096 x 4,096 = 536,870,912 B. At 8K (the model's
  // maximum) the 24 sliding layers hold 4,096 tokens: 24 x 4,096 x 4,096 + 8 x 4,096 x 8,192 =
  // 402,653,184 + 268,435,456 = 671,088,640 B.
  CHECK(f4k.kv_bytes == 536870912.0);
  CHECK(f8k.kv_bytes == 671088640.0);
  CHECK_FALSE(f8k.beyond_max_context);
  // Parameters: attention 32 x (2 x 4096^2 + 2 x 1024 x 4096) = 1,342,177,280; SwiGLU 32 x 3 x
  // 4096 x 14336 = 5,637,144,576; tied embedding 256000 x 4096 = 1,048,576,000; norms 4096 x 65.
  CHECK(f4k.attn_params == 1342177280);
  CHECK(f4k.ffn_params == 5637144576);
  CHECK(f4k.total_params == 1342177280 + 5637144576 + 1048576000 + 4096 * 65);
  // The checkpoint's count, as the Hub lists it: 8.03 B (the card's "7B" name rounds down).
  CHECK(off(f4k.total_params, 8.03e9) < 0.015);
}

TEST_CASE("families: cohere2 defaults and what fails closed", "[capacity]") {
  nlohmann::json c = nlohmann::json::parse(kCommandR7b);
  c.erase("sliding_window_pattern");
  c["_sliding_window_pattern"] = 2;  // transformers 5.x spelling
  CHECK(model_from_hf_config(c, "config.json").layers[1].span.kind == SpanKind::kFull);
  c.erase("_sliding_window_pattern");  // Cohere2Config's 4
  CHECK(model_from_hf_config(c, "config.json").layers[3].span.kind == SpanKind::kFull);
  CHECK(model_from_hf_config(c, "config.json").layers[2].span.kind == SpanKind::kSlidingWindow);
  nlohmann::json q = nlohmann::json::parse(kCommandR7b);
  q["use_qk_norm"] = true;
  CHECK_THROWS_WITH(model_from_hf_config(q, "config.json"), Catch::Contains("use_qk_norm"));
  nlohmann::json g = nlohmann::json::parse(kCommandR7b);
  g["use_gated_activation"] = false;
  CHECK_THROWS_WITH(model_from_hf_config(g, "config.json"), Catch::Contains("use_gated_activation"));
  // Omitted geometry takes Cohere2Config's: 40 layers of d 8192, 64 heads.
  const ModelDesign d = model_from_hf_config(nlohmann::json::parse(R"({"model_type": "cohere2"})"), "config.json");
  CHECK(d.layers.size() == 40);
  CHECK(d.d_model == 8192);
  CHECK(d.layers[0].attention.kv_heads == 64);
  CHECK(d.vocab_size == 256000);
}
