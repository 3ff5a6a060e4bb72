// Published config.json files of the 2025-2026 families (fields as Hugging Face publishes them;
// the source of each is named above it) and their figures worked by hand. Parameter totals are
// held within 1.5 % of the model card, with what the card counts said beside each.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "gmha/attention/hf_config.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/core/error.hpp"
#include "support/test_paths.hpp"
#include "support/hf_fixture.hpp"

using namespace gmha;

namespace {

// The published-config helpers every family test shares (support/hf_fixture.hpp).
constexpr auto parse = gmha::test::parse_config;
constexpr auto at = gmha::test::exact_at;
constexpr auto off = gmha::test::off_by;

// https://huggingface.co/openai/gpt-oss-120b/blob/main/config.json (checked field by field against
// a public engine test's verbatim copy of .../raw/main/config.json)
const char* kGptOss120b = R"({
  "architectures": ["GptOssForCausalLM"], "attention_bias": true, "attention_dropout": 0.0,
  "eos_token_id": 200002, "experts_per_token": 4, "head_dim": 64, "hidden_act": "silu",
  "hidden_size": 2880, "initial_context_length": 4096, "initializer_range": 0.02,
  "intermediate_size": 2880,
  "layer_types": ["sliding_attention","full_attention","sliding_attention","full_attention",
    "sliding_attention","full_attention","sliding_attention","full_attention","sliding_attention",
    "full_attention","sliding_attention","full_attention","sliding_attention","full_attention",
    "sliding_attention","full_attention","sliding_attention","full_attention","sliding_attention",
    "full_attention","sliding_attention","full_attention","sliding_attention","full_attention",
    "sliding_attention","full_attention","sliding_attention","full_attention","sliding_attention",
    "full_attention","sliding_attention","full_attention","sliding_attention","full_attention",
    "sliding_attention","full_attention"],
  "max_position_embeddings": 131072, "model_type": "gpt_oss", "num_attention_heads": 64,
  "num_experts_per_tok": 4, "num_hidden_layers": 36, "num_key_value_heads": 8,
  "num_local_experts": 128, "output_router_logits": false, "pad_token_id": 199999,
  "quantization_config": {"modules_to_not_convert": ["model.layers.*.self_attn",
    "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"], "quant_method": "mxfp4"},
  "rms_norm_eps": 1e-05,
  "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0,
    "original_max_position_embeddings": 4096, "rope_type": "yarn", "truncate": false},
  "rope_theta": 150000, "router_aux_loss_coef": 0.9, "sliding_window": 128,
  "swiglu_limit": 7.0, "tie_word_embeddings": false, "transformers_version": "4.55.0.dev0",
  "use_cache": true, "vocab_size": 201088
})";

// https://huggingface.co/Qwen/Qwen3-Next-80B-A3B-Instruct/blob/main/config.json
const char* kQwen3Next = R"({
  "architectures": ["Qwen3NextForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 151643, "decoder_sparse_step": 1, "eos_token_id": 151645,
  "full_attention_interval": 4, "head_dim": 256, "hidden_act": "silu", "hidden_size": 2048,
  "initializer_range": 0.02, "intermediate_size": 5120, "linear_conv_kernel_dim": 4,
  "linear_key_head_dim": 128, "linear_num_key_heads": 16, "linear_num_value_heads": 32,
  "linear_value_head_dim": 128, "max_position_embeddings": 262144, "mlp_only_layers": [],
  "model_type": "qwen3_next", "moe_intermediate_size": 512, "norm_topk_prob": true,
  "num_attention_heads": 16, "num_experts": 512, "num_experts_per_tok": 10,
  "num_hidden_layers": 48, "num_key_value_heads": 2, "output_router_logits": false,
  "partial_rotary_factor": 0.25, "rms_norm_eps": 1e-06, "rope_scaling": null,
  "rope_theta": 10000000, "router_aux_loss_coef": 0.001, "shared_expert_intermediate_size": 512,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.57.0.dev0",
  "use_cache": true, "use_sliding_window": false, "vocab_size": 151936
})";

// https://huggingface.co/deepseek-ai/DeepSeek-V3.2-Exp/blob/main/config.json (V3's fields plus
// the indexer's; quantization_config and rope_scaling as in V3)
const char* kDeepSeekV32 = R"({
  "architectures": ["DeepseekV32ForCausalLM"], "model_type": "deepseek_v32",
  "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
  "num_hidden_layers": 61, "num_nextn_predict_layers": 1, "num_attention_heads": 128,
  "num_key_value_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256,
  "num_experts_per_tok": 8, "first_k_dense_replace": 3, "moe_layer_freq": 1,
  "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
  "v_head_dim": 128, "vocab_size": 129280, "tie_word_embeddings": false,
  "max_position_embeddings": 163840, "index_head_dim": 128, "index_n_heads": 64,
  "index_topk": 2048,
  "rope_scaling": {"type": "yarn", "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0,
                   "original_max_position_embeddings": 4096, "beta_fast": 32, "beta_slow": 1},
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                          "weight_block_size": [128, 128]}
})";

// https://huggingface.co/zai-org/GLM-4.5/blob/main/config.json
const char* kGlm45 = R"({
  "architectures": ["Glm4MoeForCausalLM"], "attention_bias": true, "attention_dropout": 0.0,
  "pad_token_id": 151329, "eos_token_id": [151329, 151336, 151338], "head_dim": 128,
  "hidden_act": "silu", "hidden_size": 5120, "partial_rotary_factor": 0.5,
  "initializer_range": 0.02, "intermediate_size": 12288, "max_position_embeddings": 131072,
  "model_type": "glm4_moe", "moe_intermediate_size": 1536, "norm_topk_prob": true,
  "num_attention_heads": 96, "n_group": 1, "topk_group": 1, "n_routed_experts": 160,
  "n_shared_experts": 1, "routed_scaling_factor": 2.5, "num_experts_per_tok": 8,
  "first_k_dense_replace": 3, "num_hidden_layers": 92, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 1000000,
  "num_nextn_predict_layers": 1, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.54.0", "use_cache": true, "use_qk_norm": true, "vocab_size": 151552
})";

// https://huggingface.co/google/gemma-3-27b-it/blob/main/config.json (the same fields as
// TensorRT-LLM's GEMMA3_27B_MINI_CONFIG, whose layer count and window are shrunk; text_config omits
// vocab_size, max_position_embeddings and sliding_window_pattern: Gemma3TextConfig's defaults
// 262208, 131072 and 6 apply, docs/model_defaults.md)
const char* kGemma3_27b = R"({
  "architectures": ["Gemma3ForConditionalGeneration"], "boi_token_index": 255999,
  "eoi_token_index": 256000, "eos_token_id": [1, 106], "image_token_index": 262144,
  "initializer_range": 0.02, "mm_tokens_per_image": 256, "model_type": "gemma3",
  "text_config": {"head_dim": 128, "hidden_size": 5376, "intermediate_size": 21504,
    "model_type": "gemma3_text", "num_attention_heads": 32, "num_hidden_layers": 62,
    "num_key_value_heads": 16, "query_pre_attn_scalar": 168,
    "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "sliding_window": 1024},
  "torch_dtype": "bfloat16", "transformers_version": "4.50.0.dev0",
  "vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304,
    "model_type": "siglip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 27,
    "patch_size": 14, "vision_use_head": false}
})";

// https://huggingface.co/MiniMaxAI/MiniMax-M2/blob/main/config.json (architecture fields, as
// mirrored by public engine test fixtures of the released checkpoint)
const char* kMiniMaxM2 = R"({
  "architectures": ["MiniMaxM2ForCausalLM"], "model_type": "minimax_m2", "hidden_act": "silu",
  "hidden_size": 3072, "intermediate_size": 1536, "num_hidden_layers": 62,
  "num_attention_heads": 48, "num_key_value_heads": 8, "head_dim": 128, "rotary_dim": 64,
  "num_local_experts": 256, "num_experts_per_tok": 8, "shared_intermediate_size": 0,
  "scoring_func": "sigmoid", "use_routing_bias": true, "use_qk_norm": true,
  "qk_norm_type": "per_layer", "max_position_embeddings": 196608, "vocab_size": 200064,
  "rms_norm_eps": 1e-06, "attention_dropout": 0.0, "num_mtp_modules": 3,
  "mtp_transformer_layers": 1, "use_mtp": true, "attention_bias": false,
  "tie_word_embeddings": false,
  "attn_type_list": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
                     1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],
  "rope_theta": 5000000
})";

// https://huggingface.co/allenai/OLMo-2-1124-7B/blob/main/config.json, field for field as a
// public dataclass transcribes it (torch_dtype bfloat16, use_cache false, transformers 4.47.0.dev0;
// an earlier copy here had float32 / true and no version).
const char* kOlmo2_7b = R"({
  "architectures": ["Olmo2ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "eos_token_id": 100257, "hidden_act": "silu", "hidden_size": 4096,
  "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 4096,
  "model_type": "olmo2", "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 32, "pad_token_id": 100277, "rms_norm_eps": 1e-06,
  "rope_scaling": null, "rope_theta": 500000.0, "tie_word_embeddings": false,
  "torch_dtype": "bfloat16", "transformers_version": "4.47.0.dev0", "use_cache": false,
  "vocab_size": 100352
})";

}  // namespace

TEST_CASE("frontier: OLMo 2 7B, q/k norms over whole projections", "[capacity]") {
  const ModelDesign m = parse(kOlmo2_7b);
  const auto f = at(m, 4096);
  // 4 * 4096^2 + q_norm 4096 + k_norm 4096 = 67117056 per layer.
  CHECK(f.groups.at(0).attn_params_per_layer == 67108864 + 8192);
  // MHA: K, V of 32 x 128 bf16 = 16384 B per token and layer.
  CHECK(f.kv_bytes_per_token == 32 * 16384);
  CHECK(f.kv_bytes == 32.0 * 4096 * 16384);      // 2147483648
  CHECK(at(m, 1024).kv_bytes == 32.0 * 1024 * 16384);  // 536870912
  CHECK(f.max_context == 4096);
  CHECK(at(m, 8192).beyond_max_context);  // 8192 > 4096 is marked, not silently computed
  CHECK_FALSE(f.beyond_max_context);
  // 32 * (67117056 + 3*4096*11008) + 2*100352*4096 + norms 4096*65 = 7298617344; card 7.3 B.
  CHECK(f.total_params == 7298617344LL);
  CHECK(off(f.total_params, 7.3e9) < 0.015);
}

TEST_CASE("frontier: MiniMax-M2, per-layer q/k norms, 256 experts top-8 on every layer", "[capacity]") {
  const ModelDesign m = parse(kMiniMaxM2);
  CHECK(m.layers[0].attention.rotary_dim == 64);
  const auto f = at(m, 8192);
  // q 6144*3072 + k, v 1024*3072 + o 3072*6144 + q_norm 6144 + k_norm 1024 (over whole
  // projections, qk_norm_type per_layer).
  CHECK(f.groups.at(0).attn_params_per_layer == 44040192 + 6144 + 1024);
  // K, V of 8 x 128 bf16 = 4096 B per token and layer.
  CHECK(f.kv_bytes_per_token == 62 * 4096);
  CHECK(f.kv_bytes == 62.0 * 8192 * 4096);                 // 2080374784
  CHECK(at(m, 196608).kv_bytes == 62.0 * 196608 * 4096);   // 49928994816
  // 62 * (44047360 + 256 * 3*3072*1536 + router 3072*256) + 2*200064*3072 + norms 3072*125
  // = 228689748992; card: 230 B (with its 3 MTP modules, outside num_hidden_layers).
  CHECK(f.total_params == 228689748992LL);
  CHECK(off(f.total_params, 230e9) < 0.015);
  // Active without embeddings: 62 * (44047360 + 8*14155776 + 786432) + norms 384000
  // = 9801344000 (card: "10B active").
  CHECK(f.active_params_excl_embeddings == 9801344000LL);
  nlohmann::json lightning = nlohmann::json::parse(kMiniMaxM2);
  lightning["attn_type_list"][5] = 0;
  CHECK_THROWS_WITH(model_from_hf_config(lightning, "config.json"), Catch::Contains("attn_type_list[5]"));
}

TEST_CASE("frontier: gpt-oss-120b, sinks and biases, 18 sliding-128 + 18 full layers", "[capacity]") {
  const ModelDesign m = parse(kGptOss120b);
  REQUIRE(m.layers.size() == 36);
  CHECK(m.layers[0].span == AttentionSpan{SpanKind::kSlidingWindow, 128});
  CHECK(m.layers[1].span.kind == SpanKind::kFull);
  CHECK(m.max_context == 131072);
  const auto f = at(m, 8192);
  // q 4096*2880 + k, v 512*2880 each + q/k/v biases 4096+512+512 + o 2880*4096 + o bias 2880
  // + 64 sinks = 23592960 + 2949120 + 5120 + 2880 + 64
  CHECK(f.groups.at(0).attn_params_per_layer == 26550144);
  // K and V of 8 heads x 64 in bf16: 2*8*64*2 = 2048 B per layer, 36 layers own a cache.
  CHECK(f.kv_bytes_per_token == 36 * 2048);
  CHECK(f.cache_owning_layers == 36);
  // 18 full layers keep T, 18 sliding layers keep min(T, 128): 18*2048*(8192+128)
  CHECK(f.kv_bytes == 306708480.0);
  CHECK(at(m, 131072).kv_bytes == 18.0 * 2048 * (131072 + 128));  // 4836556800
  CHECK(f.decode_kv_bytes_read == 306708480.0);  // full attention reads what it keeps
  // Total: 36 * (26550144 attention + 128*3*2880*2880 experts + 2880*128 router) + embeddings
  // 2*201088*2880 + norms 2880*73 = 116789338944; card: 116.83 B.
  CHECK(f.total_params == 116789338944LL);
  CHECK(off(f.total_params, 116.83e9) < 0.015);
  // Active: 36 * (26550144 + 4*24883200 + 368640) = 4552257024, + the output head 579133440
  // + norms 210240 = 5131600704 without the input embedding; card: 5.13 B active.
  CHECK(f.active_params_excl_input_embedding == 5131600704LL);
  CHECK(off(f.active_params_excl_input_embedding, 5.13e9) < 0.015);
  CHECK(f.active_params_excl_embeddings == 5131600704LL - 579133440LL);
}

TEST_CASE("frontier: Qwen3-Next-80B-A3B, 36 Gated DeltaNet + 12 gated attention layers", "[capacity]") {
  const ModelDesign m = parse(kQwen3Next);
  REQUIRE(m.layers.size() == 48);
  for (size_t i = 0; i < 48; ++i) {
    INFO("layer " << i);
    CHECK((mixer_kind(m.layers[i]) == MixerKind::kSoftmax) == ((i + 1) % 4 == 0));
  }
  CHECK(m.layers[3].attention.rotary_dim == 64);  // 0.25 * 256
  const auto f = at(m, 8192);
  REQUIRE(f.kinds.size() == 2);
  const auto& gdn = f.kinds[0].spec.attention.variant == Variant::kLinear ? f.kinds[0] : f.kinds[1];
  const auto& attn = &gdn == &f.kinds[0] ? f.kinds[1] : f.kinds[0];
  CHECK(gdn.layer_count == 36);
  CHECK_FALSE(gdn.softmax_ranks.has_value());  // FRH/SLSD/TER: n/a, never 0
  CHECK(gdn.recurrent.state_capacity == 32 * 128 * 128);
  CHECK(gdn.recurrent.key_rank_bound == 16 * 128);
  // State 32*128*128 bf16 (no mamba_ssm_dtype: the model dtype) = 1048576 B; conv state
  // (4-1) * (2*16*128 + 32*128) = 24576 bf16 = 49152 B.
  CHECK(gdn.state_bytes_per_layer == 1048576.0 + 49152.0);
  CHECK(f.state_bytes_per_sequence == 36.0 * 1097728);  // 39518208
  REQUIRE(attn.softmax_ranks.has_value());
  CHECK(attn.softmax_ranks->ter == 16 * 256);
  // K, V of 2 heads x 256 bf16 = 2048 B per token and full layer.
  CHECK(f.kv_bytes_per_token == 12 * 2048);
  CHECK(f.kv_bytes == 12.0 * 8192 * 2048 + 39518208);            // 240844800
  CHECK(at(m, 262144).kv_bytes == 12.0 * 262144 * 2048 + 39518208);  // 6481969152
  // Decode reads the 12 caches and reads + writes every state.
  CHECK(f.decode_kv_bytes_read == 12.0 * 8192 * 2048 + 2 * 39518208.0);
  // Attention: q_proj with its gate 8192*2048 + k, v 512*2048 + q/k norms 512 + o 2048*4096.
  CHECK(attn.spec.attention.gate == OutputGate::kElementwise);
  // GDN: in_proj_qkvz 12288*2048 + in_proj_ba 64*2048 + conv 8192*4 + 32 + 32 + norm 128
  // + out_proj 2048*4096 = 33718464. Total = 12*27263488 + 36*33718464 + 48*(512+1 experts
  // 3*2048*512 + router 2048*512) + embeddings 2*151936*2048 + norms 2048*97 = 79674292992.
  // The checkpoint's safetensors total is 79674391296: the difference, 48*2048, is the shared
  // expert's sigmoid gate [1, d], which gmha does not count. Card: 80 B total, 3 B active.
  CHECK(f.total_params == 79674292992LL);
  CHECK(off(f.total_params, 79674391296.0) < 0.015);
  // Active: 12*27263488 + 36*33718464 + 48*(11*3145728 + 1048576) + embeddings + norms.
  CHECK(f.active_params == 3874831104LL);
  // The header count of active tensors is 3874929408 (the same 48*2048 gates apart); the
  // card's "A3B" is that count without the embeddings, rounded: 3874831104 - 622329856.
  CHECK(off(f.active_params, 3874929408.0) < 0.015);
  CHECK(f.active_params_excl_embeddings == 3252501248LL);
}

TEST_CASE("frontier: DeepSeek-V3.2-Exp keeps every latent and index key, reads top-2048", "[capacity]") {
  const ModelDesign m = parse(kDeepSeekV32);
  CHECK(m.layers[0].span == AttentionSpan{SpanKind::kTopK, 2048});
  const auto f = at(m, 131072);
  // Per layer: latent 512 + RoPE key 64 in bf16 = 1152 B, plus the index key 128 fp8 + one
  // fp32 scale = 132 B.
  CHECK(f.groups.at(0).index_key_bytes_per_layer == 132);
  CHECK(f.kv_bytes_per_token == 61 * (1152 + 132));  // 78324
  CHECK(f.indexer_bytes_per_token == 61 * 132);
  CHECK(f.kv_bytes == 61.0 * 131072 * 1284);  // 10266083328
  CHECK(at(m, 32768).kv_bytes == 61.0 * 32768 * 1284);  // 2566520832
  // Read: 2048 selected latents + all 131072 index keys per layer.
  CHECK(f.decode_kv_bytes_read == 61.0 * (2048 * 1152 + 131072 * 132));  // 1199308800
  // Attention over 2048 tokens (absorbed MLA: 2*128*2048*(576+512)) + indexer 2*64*128*T.
  CHECK(f.attn_flops == 61LL * (2LL * 128 * 2048 * 1088 + 2LL * 64 * 128 * 131072));
  // V3's 671026404352 plus the indexer per layer: wq_b 8192*1536 + wk 128*7168 + k_norm
  // weight and bias 256 + weights_proj 64*7168 = 13959424, 61 layers. The card's 685 B adds the
  // 14 B MTP module (DeepSeek-V3 report), which is outside num_hidden_layers.
  CHECK(f.total_params == 671026404352LL + 61LL * 13959424);
  CHECK(off(f.total_params, 685e9 - 14e9) < 0.015);
  CHECK(f.max_context == 163840);
}

TEST_CASE("frontier: GLM-4.5, partial RoPE and q/k norms, 3 dense + 89 MoE layers", "[capacity]") {
  const ModelDesign m = parse(kGlm45);
  CHECK(m.layers[0].attention.rotary_dim == 64);
  CHECK(m.layers[0].ffn.kind == FfnKind::kDense);
  CHECK(m.layers[3].ffn.kind == FfnKind::kMoe);
  const auto f = at(m, 8192);
  // K, V of 8 x 128 bf16: 4096 B per token and layer.
  CHECK(f.kv_bytes_per_token == 92 * 4096);
  CHECK(f.kv_bytes == 92.0 * 8192 * 4096);      // 3087007744
  CHECK(at(m, 131072).kv_bytes == 92.0 * 131072 * 4096);  // 49392123904
  // q 12288*5120 + k, v 1024*5120 + biases 14336 + q/k norms 256 + o 5120*12288 = 136329472.
  CHECK(f.groups.at(0).attn_params_per_layer == 136329472);
  // 92*136329472 + 3*3*5120*12288 + 89*(161*3*5120*1536 + 5120*160) + 2*151552*5120 + 5120*185
  // = 352797814784. Card: 355 B with the MTP layer (about 4 B, outside num_hidden_layers).
  CHECK(f.total_params == 352797814784LL);
  CHECK(off(f.total_params, 355e9) < 0.015);
  // Active 33632251904 with both embeddings; the card's 32 B active excludes them.
  CHECK(f.active_params == 33632251904LL);
  CHECK(off(f.active_params_excl_embeddings, 32e9) < 0.015);
}

TEST_CASE("frontier: Gemma 3 27B takes Gemma3TextConfig's defaults for omitted fields", "[capacity]") {
  const ModelDesign m = parse(kGemma3_27b);
  CHECK(m.vocab_size == 262208);   // omitted: the default, never 0
  CHECK(m.max_context == 131072);  // omitted: the default
  CHECK(m.tied_embeddings);
  int global = 0;
  for (const auto& l : m.layers) global += l.span.kind == SpanKind::kFull;
  CHECK(global == 10);  // (i + 1) % 6 == 0 for i < 62
  const auto f = at(m, 8192);
  // K, V of 16 x 128 bf16 = 8192 B per token and layer; 10 global + 52 sliding-1024 layers.
  CHECK(f.kv_bytes_per_token == 62 * 8192);
  CHECK(f.kv_bytes == 10.0 * 8192 * 8192 + 52.0 * 1024 * 8192);       // 1107296256
  CHECK(at(m, 131072).kv_bytes == 10.0 * 131072 * 8192 + 52.0 * 1024 * 8192);  // 11173625856
  // 62*(q 4096*5376 + k, v 2048*5376 + q/k norms 256 + o 5376*4096 + FFN 3*5376*21504)
  // + tied embedding 262208*5376 + norms 5376*125 = 27008679680; card: 27 B (text).
  CHECK(f.total_params == 27008679680LL);
  CHECK(off(f.total_params, 27e9) < 0.015);
}

TEST_CASE("frontier: unknown types and unmodelled keys fail closed naming them", "[capacity]") {
  try {
    parse(R"({"model_type": "no_such_model", "hidden_size": 8})");
    FAIL("accepted an unknown model_type");
  } catch (const InputError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("'no_such_model' is not supported"));
  }
  // DeepSeek-V3 with an indexer key is not a V3: it must not be read as dense MLA.
  nlohmann::json v3 = nlohmann::json::parse(kDeepSeekV32);
  v3["model_type"] = "deepseek_v3";
  try {
    model_from_hf_config(v3, "config.json");
    FAIL("ignored index_topk");
  } catch (const InputError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("field 'index_topk'"));
    CHECK_THAT(std::string(e.what()), Catch::Contains("deepseek_v3"));
  }
  nlohmann::json oss = nlohmann::json::parse(kGptOss120b);
  oss["num_kv_shared_layers"] = 10;
  CHECK_THROWS_WITH(model_from_hf_config(oss, "config.json"), Catch::Contains("num_kv_shared_layers"));
}

TEST_CASE("frontier: each 2025 preset is its published config", "[capacity]") {
  const std::pair<const char*, const char*> pairs[] = {
      {"gpt-oss-120b", kGptOss120b}, {"qwen3-next-80b-a3b", kQwen3Next}, {"deepseek-v3.2", kDeepSeekV32},
      {"glm-4.5", kGlm45}, {"gemma-3-27b", kGemma3_27b}, {"minimax-m2", kMiniMaxM2}};
  for (const auto& [name, config] : pairs) {
    INFO(name);
    const ModelDesign p = read_preset(name);
    const ModelDesign c = parse(config);
    REQUIRE(p.layers.size() == c.layers.size());
    for (size_t i = 0; i < p.layers.size(); ++i) CHECK(same_layer(p.layers[i], c.layers[i]));
    CHECK(at(p, 4096).total_params == at(c, 4096).total_params);
  }
}

TEST_CASE("frontier: Python json's Infinity and NaN literals are read as null", "[capacity]") {
  namespace fs = std::filesystem;
  const std::string dir = test::scratch_dir("pyjson");
  const fs::path file = fs::path(dir) / "config.json";
  // Gemma-style soft-cap written by Python's json as Infinity; a string holding "NaN" stays.
  { std::ofstream(file) << R"({"model_type": "olmo2", "hidden_size": 64, "intermediate_size": 128,
      "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 10, "note": "NaN stays",
      "final_logit_softcapping": Infinity, "attn_logit_softcapping": -Infinity, "eps": NaN})"; }
  const ModelDesign m = read_hf_config(file.string());
  CHECK(m.layers.size() == 2);
  // A field gmha needs, written as Infinity, fails as missing, naming it.
  { std::ofstream(file) << R"({"model_type": "olmo2", "hidden_size": Infinity})"; }
  CHECK_THROWS_WITH(read_hf_config(file.string()), Catch::Contains("hidden_size"));
  fs::remove_all(dir);
}
