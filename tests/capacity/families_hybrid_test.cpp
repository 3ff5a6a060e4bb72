// Published config.json files of the hybrid families (nemotron_h, lfm2, jamba, hunyuan), read as
// their authors published them (the source of each is named above it), with KV and recurrent state
// at two contexts and the parameter counts worked by hand. Each count is compared with the
// published figure it matches, and the convention that figure uses is named.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "gmha/attention/hf_config.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/core/error.hpp"

using namespace gmha;

namespace {

ModelDesign parse(const char* text) {
  return model_from_hf_config(nlohmann::json::parse(text), "config.json");
}
ModelFigures at(const ModelDesign& m, int64_t context) {
  return compute_figures(m, {context, 1, Convention::kExact});
}
double off(int64_t got, double published) {
  return std::abs(static_cast<double>(got) - published) / published;
}
int count_mixer(const ModelDesign& m, MixerKind k) {
  int n = 0;
  for (const auto& l : m.layers) n += mixer_kind(l) == k;
  return n;
}

// nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16 config.json, verbatim as a public bring-up study
// reproduces it ("Verbatim config.json", with its auto_map block left out here).
const char* kNemotron3Nano30b = R"({
  "architectures": ["NemotronHForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 1, "chunk_size": 128, "conv_kernel": 4, "eos_token_id": 2, "expand": 2,
  "head_dim": 128, "hidden_dropout": 0.0, "hidden_size": 2688,
  "hybrid_override_pattern": "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME",
  "initializer_range": 0.02, "intermediate_size": 1856, "layer_norm_epsilon": 1e-05,
  "mamba_head_dim": 64, "mamba_hidden_act": "silu", "mamba_num_heads": 64,
  "mamba_proj_bias": false, "mamba_ssm_cache_dtype": "float32",
  "max_position_embeddings": 262144, "mlp_bias": false, "mlp_hidden_act": "relu2",
  "model_type": "nemotron_h", "moe_intermediate_size": 1856,
  "moe_shared_expert_intermediate_size": 3712, "n_group": 1, "n_groups": 8,
  "n_routed_experts": 128, "n_shared_experts": 1, "norm_eps": 1e-05, "norm_topk_prob": true,
  "num_attention_heads": 32, "num_experts_per_tok": 6, "num_hidden_layers": 52,
  "num_key_value_heads": 2, "num_logits_to_keep": 1, "pad_token_id": 0,
  "partial_rotary_factor": 1.0, "rescale_prenorm_residual": true, "residual_in_fp32": false,
  "rope_theta": 10000, "routed_scaling_factor": 2.5, "sliding_window": null,
  "ssm_state_size": 128, "tie_word_embeddings": false, "time_step_floor": 0.0001,
  "time_step_max": 0.1, "time_step_min": 0.001, "topk_group": 1, "torch_dtype": "bfloat16",
  "transformers_version": "4.55.4", "use_bias": false, "use_cache": true, "use_conv_bias": true,
  "use_mamba_kernels": true, "vocab_size": 131072
})";

// nvidia/NVIDIA-Nemotron-Nano-9B-v2: the architecture fields of its config.json as independent
// sources reproduce them (a llama.cpp recurrent-memory census that fetched the Hub config, which
// gives the pattern and the Mamba geometry; Megatron-Bridge's NemotronNano9Bv2Provider; a memory
// model's NEMOTRON_H fixture), with the field names of NemotronHConfig. No mamba_ssm_cache_dtype:
// the state is kept in the model dtype.
const char* kNemotronNano9bV2 = R"({
  "architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h", "hidden_size": 4480,
  "intermediate_size": 15680, "num_hidden_layers": 56, "num_attention_heads": 40,
  "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 131072,
  "hybrid_override_pattern": "M-M-M-MM-M-M-M*-M-M-M*-M-M-M-M*-M-M-M-M*-M-MM-M-M-M-M-M-",
  "mamba_num_heads": 128, "mamba_head_dim": 80, "n_groups": 8, "ssm_state_size": 128,
  "conv_kernel": 4, "mlp_hidden_act": "relu2", "tie_word_embeddings": false,
  "max_position_embeddings": 131072, "torch_dtype": "bfloat16"
})";

// LiquidAI/LFM2-1.2B config.json, verbatim as a public NPU runtime's test reproduces it from its
// packaged copy of the model (HF_LFM2_1_2B: "config.json, verbatim"); its tensor count is checked
// against fetchwiki/LiquidAI-LFM2-1.2B model_files.json (148 BF16 tensors, 1,170,340,608 values).
const char* kLfm2_1_2b = R"({
  "architectures": ["Lfm2ForCausalLM"], "block_auto_adjust_ff_dim": true, "block_dim": 2048,
  "block_ff_dim": 12288, "block_ffn_dim_multiplier": 1.0, "block_mlp_init_scale": 1.0,
  "block_multiple_of": 256, "block_norm_eps": 1e-05, "block_out_init_scale": 1.0,
  "block_use_swiglu": true, "block_use_xavier_init": true, "bos_token_id": 1,
  "conv_L_cache": 3, "conv_bias": false, "conv_dim": 2048, "conv_dim_out": 2048,
  "conv_use_xavier_init": true, "eos_token_id": 7, "intermediate_size": 8192,
  "full_attn_idxs": [2, 5, 8, 10, 12, 14], "hidden_size": 2048, "initializer_range": 0.02,
  "max_position_embeddings": 128000, "model_type": "lfm2", "norm_eps": 1e-05,
  "num_attention_heads": 32, "head_dim": 64, "num_heads": 32, "num_hidden_layers": 16,
  "num_key_value_heads": 8, "pad_token_id": 0, "rope_theta": 1000000.0,
  "torch_dtype": "bfloat16", "use_cache": true, "use_pos_enc": true, "vocab_size": 65536
})";

// https://huggingface.co/ai21labs/AI21-Jamba-1.5-Mini/blob/main/config.json as onnx-diagnostic's
// model fixture reproduces it (get_untrained_model config for that URL; Python True/False/None
// written as JSON).
const char* kJamba15Mini = R"({
  "architectures": ["JambaForCausalLM"], "attention_dropout": 0.0, "attn_layer_offset": 4,
  "attn_layer_period": 8, "bos_token_id": 1, "eos_token_id": [2, 518], "expert_layer_offset": 1,
  "expert_layer_period": 2, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 14336, "mamba_conv_bias": true, "mamba_d_conv": 4, "mamba_d_state": 16,
  "mamba_dt_rank": 256, "mamba_expand": 2, "mamba_proj_bias": false,
  "max_position_embeddings": 262144, "model_type": "jamba", "num_attention_heads": 32,
  "num_experts": 16, "num_experts_per_tok": 2, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "num_logits_to_keep": 1, "output_router_logits": false, "pad_token_id": 0,
  "rms_norm_eps": 1e-06, "router_aux_loss_coef": 0.001, "sliding_window": null,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.40.2",
  "use_cache": true, "use_mamba_kernels": false, "vocab_size": 65536
})";

// tencent/Hunyuan-Large config.json as MindIE's test of its Hunyuan model reproduces it
// (tests/pythontest/.../test_flash_causal_hunyuan.py), with the one field that test shrinks put
// back (num_hidden_layers 64, the published depth: "64 layers") and its two serving keys
// ("quantize", "moe_quantize") left out.
const char* kHunyuanLarge = R"({
  "cla_share_factor": 2, "hidden_size": 6400, "intermediate_size": 18304,
  "max_position_embeddings": 131072, "model_type": "hunyuan", "moe_topk": 1,
  "num_attention_heads": 80, "num_experts": 16, "num_hidden_layers": 64,
  "num_key_value_heads": 8, "num_shared_expert": 1, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"alpha": 1000.0, "factor": 1.0, "type": "dynamic"}, "rope_theta": 10000.0,
  "tie_word_embeddings": true, "torch_dtype": "float16", "use_cache": true, "use_cla": true,
  "use_qk_norm": true, "vocab_size": 129024, "use_mixed_mlp_moe": true, "topk_method": "softmax"
})";

}  // namespace

TEST_CASE("hybrids: Nemotron-3-Nano-30B-A3B, 23 Mamba2 + 6 NoPE GQA + 23 MoE blocks", "[capacity]") {
  const ModelDesign m = parse(kNemotron3Nano30b);
  REQUIRE(m.layers.size() == 52);
  CHECK(count_mixer(m, MixerKind::kRecurrent) == 23);
  CHECK(count_mixer(m, MixerKind::kSoftmax) == 6);
  CHECK(count_mixer(m, MixerKind::kNone) == 23);  // the E blocks: an FFN, no mixer
  for (int i : {5, 12, 19, 26, 33, 42}) {
    INFO("layer " << i);
    CHECK(mixer_kind(m.layers[static_cast<size_t>(i)]) == MixerKind::kSoftmax);
    CHECK_FALSE(m.layers[static_cast<size_t>(i)].rope);  // NemotronHAttention has no RoPE
  }
  const LayerSpec& mamba = m.layers[0];
  CHECK(mamba.attention.recurrent == RecurrentKind::kMamba2);
  CHECK(mamba.ffn.kind == FfnKind::kNone);
  CHECK(mamba.kv_dtype == DType::kF32);  // mamba_ssm_cache_dtype float32
  CHECK(m.layers[1].ffn.kind == FfnKind::kMoe);
  CHECK(m.layers[1].ffn.matrices == 2);  // relu2 experts: up, down

  const auto f = at(m, 32768);
  // K, V of 2 heads x 128 in bf16 = 1024 B per token and layer, 6 layers.
  CHECK(f.kv_bytes_per_token == 6 * 1024);
  CHECK(f.cache_owning_layers == 6);
  // Mamba2: state 64 heads x 64 x 128 fp32 = 2097152 B; conv (4-1) x (4096 + 2*8*128) bf16 = 36864 B.
  CHECK(f.state_bytes_per_sequence == 23.0 * (2097152 + 36864));  // 49082368
  CHECK(f.kv_bytes == 6144.0 * 32768 + 49082368);                  // 250408960
  CHECK(at(m, 131072).kv_bytes == 6144.0 * 131072 + 49082368);     // 854388736
  // Mamba2 block: in_proj (2*4096 + 2*1024 + 64)*2688 + conv 6144*4 + bias 6144 + 3*64 + norm 4096
  // + out_proj 2688*4096 = 38742208. Attention: q, o 4096*2688 each + k, v 256*2688 = 23396352.
  // MoE: 128 experts 2*2688*1856 + shared 2*2688*3712 + router 2688*128 = 1297465344.
  // Total 23*38742208 + 6*23396352 + 23*1297465344 + embeddings 2*131072*2688 + norms
  // 2688*105 = 31578077120 (gmha counts two norms per layer; Nemotron-H's blocks have one:
  // 139776 fewer in the checkpoint). Card: 31.6B total.
  CHECK(f.total_params == 31578077120LL);
  CHECK(off(f.total_params, 31.6e9) < 0.015);
  // Active: 6 of 128 experts + the shared one + router: 3580213184 with both embeddings. The
  // card's "3.2B active" excludes the input embedding (3227891648, 0.9 % off) and its "3.6B"
  // includes the embeddings (0.6 % off).
  CHECK(f.active_params == 3580213184LL);
  CHECK(f.active_params_excl_input_embedding == 3227891648LL);
  CHECK(off(f.active_params_excl_input_embedding, 3.2e9) < 0.015);
  CHECK(off(f.active_params, 3.6e9) < 0.015);
}

TEST_CASE("hybrids: Nemotron Nano 9B v2, Mamba2 / attention / MLP blocks, bf16 state", "[capacity]") {
  const ModelDesign m = parse(kNemotronNano9bV2);
  REQUIRE(m.layers.size() == 56);
  CHECK(count_mixer(m, MixerKind::kRecurrent) == 27);
  CHECK(count_mixer(m, MixerKind::kSoftmax) == 4);
  CHECK(count_mixer(m, MixerKind::kNone) == 25);  // the - blocks
  CHECK(m.layers[1].ffn.kind == FfnKind::kDense);
  CHECK(m.layers[1].ffn.intermediate == 15680);
  CHECK(m.layers[0].kv_dtype == DType::kBF16);  // no mamba_ssm_cache_dtype: the model dtype
  const auto f = at(m, 32768);
  // Attention: K, V of 8 x 128 bf16 = 4096 B per token, 4 layers.
  CHECK(f.kv_bytes_per_token == 4 * 4096);
  // Mamba2 state 128 x 80 x 128 = 1310720 elements, conv (4-1) x (10240 + 2*8*128) = 36864
  // elements (llama.cpp's census: n_embd_s 1310720, n_embd_r 36864), bf16: 2695168 B per layer.
  CHECK(f.state_bytes_per_sequence == 27.0 * 2695168);                  // 72769536
  CHECK(f.kv_bytes == 16384.0 * 32768 + 72769536);                      // 609648640
  CHECK(at(m, 131072).kv_bytes == 16384.0 * 131072 + 72769536);         // 2220261376
  // 2*131072*4480 + 27*147446144 + 4*55050240 + 25*(2*15680*4480) + 4480*113 = 8888478208.
  CHECK(f.total_params == 8888478208LL);
}

TEST_CASE("hybrids: Nemotron-H patterns and layers_block_type are checked, latent MoE fails closed", "[capacity]") {
  nlohmann::json c = nlohmann::json::parse(kNemotron3Nano30b);
  c["hybrid_override_pattern"] = "MEM";
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("3 blocks for 52 layers"));
  c = nlohmann::json::parse(kNemotron3Nano30b);
  std::string p = c["hybrid_override_pattern"];
  p[0] = 'X';
  c["hybrid_override_pattern"] = p;
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("'X'"));
  // Nemotron 3 Super writes layers_block_type; the same stack either way.
  c = nlohmann::json::parse(kNemotron3Nano30b);
  std::vector<std::string> types;
  for (char ch : c["hybrid_override_pattern"].get<std::string>()) {
    types.push_back(ch == 'M' ? "mamba" : ch == '*' ? "attention" : ch == '-' ? "mlp" : "moe");
  }
  c.erase("hybrid_override_pattern");
  c["layers_block_type"] = types;
  const ModelDesign by_types = model_from_hf_config(c, "config.json");
  const ModelDesign by_pattern = parse(kNemotron3Nano30b);
  for (size_t i = 0; i < 52; ++i) CHECK(same_layer(by_types.layers[i], by_pattern.layers[i]));
  c["moe_latent_size"] = 1024;
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("moe_latent_size"));
}

TEST_CASE("hybrids: LFM2-1.2B, 10 short-conv + 6 GQA layers, exact tensor count", "[capacity]") {
  const ModelDesign m = parse(kLfm2_1_2b);
  REQUIRE(m.layers.size() == 16);
  CHECK(m.tied_embeddings);  // Lfm2Config default
  for (size_t i = 0; i < 16; ++i) {
    INFO("layer " << i);
    const bool attn = i == 2 || i == 5 || i == 8 || i == 10 || i == 12 || i == 14;
    CHECK((mixer_kind(m.layers[i]) == MixerKind::kSoftmax) == attn);
    // block_ff_dim 12288, auto-adjusted: 2*12288/3 = 8192, a multiple of 256.
    CHECK(m.layers[i].ffn.intermediate == 8192);
  }
  CHECK(m.layers[0].attention.recurrent == RecurrentKind::kShortConv);
  const auto f = at(m, 32768);
  // K, V of 8 x 64 bf16 = 2048 B per token and layer, 6 layers.
  CHECK(f.kv_bytes_per_token == 6 * 2048);
  // Short conv: (3 - 1) x 2048 channels in bf16 = 8192 B per layer, 10 layers.
  CHECK(f.state_bytes_per_sequence == 10 * 8192);
  CHECK(f.kv_bytes == 12288.0 * 32768 + 81920);                 // 402735104
  const auto f128 = at(m, 131072);
  CHECK(f128.kv_bytes == 12288.0 * 131072 + 81920);             // 1610694656
  CHECK(f128.beyond_max_context);                               // 131072 > 128000
  // Conv layer: in_proj 6144*2048 + conv 2048*3 + out_proj 2048*2048 = 16783360. Attention:
  // q, o 2048*2048 + k, v 512*2048 + q/k norms 2*64 = 10485888. FFN 3*2048*8192 = 50331648.
  // 10*16783360 + 6*10485888 + 16*50331648 + tied embedding 65536*2048 + norms 2048*33
  // = 1170340608: the checkpoint's 148 tensors hold exactly this many values.
  CHECK(f.total_params == 1170340608LL);
}

TEST_CASE("hybrids: LFM2 layer_types, the lfm2_vl wrapper and unmodelled biases", "[capacity]") {
  nlohmann::json c = nlohmann::json::parse(kLfm2_1_2b);
  const ModelDesign idx = model_from_hf_config(c, "config.json");
  std::vector<std::string> types;
  for (const auto& l : idx.layers) types.push_back(mixer_kind(l) == MixerKind::kSoftmax ? "full_attention" : "conv");
  c.erase("full_attn_idxs");
  c["layer_types"] = types;
  const ModelDesign lt = model_from_hf_config(c, "config.json");
  for (size_t i = 0; i < 16; ++i) CHECK(same_layer(lt.layers[i], idx.layers[i]));
  // LFM2-VL keeps the LFM2 text stack in text_config.
  nlohmann::json vl = {{"model_type", "lfm2_vl"}, {"text_config", c}};
  CHECK(model_from_hf_config(vl, "config.json").layers == lt.layers);
  c["layer_types"][0] = "mamba";
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("layer_types[0] = 'mamba'"));
  c = nlohmann::json::parse(kLfm2_1_2b);
  c["conv_bias"] = true;
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("conv_bias"));
}

TEST_CASE("hybrids: Jamba 1.5 Mini, 28 Mamba-1 + 4 attention layers, MoE every other layer", "[capacity]") {
  const ModelDesign m = parse(kJamba15Mini);
  REQUIRE(m.layers.size() == 32);
  for (size_t i = 0; i < 32; ++i) {
    INFO("layer " << i);
    CHECK((mixer_kind(m.layers[i]) == MixerKind::kSoftmax) == (i % 8 == 4));
    CHECK((m.layers[i].ffn.kind == FfnKind::kMoe) == (i % 2 == 1));
  }
  const AttentionShape& s = m.layers[0].attention;
  CHECK(s.recurrent == RecurrentKind::kMamba);
  CHECK(s.inner == 8192);  // mamba_expand 2 x 4096
  CHECK(s.dt_rank == 256);
  const auto f = at(m, 32768);
  // K, V of 8 x 128 bf16 = 4096 B per token and layer, 4 layers.
  CHECK(f.kv_bytes_per_token == 4 * 4096);
  // Mamba-1: state 8192 channels x d_state 16, bf16 (no mamba_ssm_cache_dtype) = 262144 B; conv
  // (4-1) x 8192 bf16 = 49152 B. 28 layers: 8716288 B.
  CHECK(f.state_bytes_per_sequence == 28.0 * 311296);
  CHECK(f.groups.at(0).recurrent.state_capacity == 8192 * 16);
  CHECK(f.groups.at(0).recurrent.key_rank_bound == 16);  // one B of 16 for every channel
  CHECK(f.kv_bytes == 16384.0 * 32768 + 8716288);                 // 545587200
  CHECK(at(m, 131072).kv_bytes == 16384.0 * 131072 + 8716288);    // 2156199936
  // Mamba-1 layer: in_proj 2*8192*4096 + conv 8192*4 + bias 8192 + x_proj (256 + 32)*8192 +
  // dt_proj 8192*256 + bias 8192 + A_log 8192*16 + D 8192 + dt/B/C norms 256 + 16 + 16 + out_proj
  // 4096*8192 = 105308448. Attention 2*4096*4096 + 2*1024*4096 = 41943040. SwiGLU 3*4096*14336
  // = 176160768; MoE 16 of them + router 4096*16. Total 28*105308448 + 4*41943040 + 16*176160768
  // + 16*2818637824 + embeddings 2*65536*4096 + norms 4096*65 = 51570323328.
  CHECK(f.total_params == 51570323328LL);
  // Card (ai21labs/AI21-Jamba-1.5-Mini): "52B total parameters, 12B active" (both embeddings
  // counted: 0.8 % and 0.9 % off).
  CHECK(off(f.total_params, 52e9) < 0.015);
  CHECK(f.active_params == 12110311296LL);
  CHECK(off(f.active_params, 12e9) < 0.015);
  // A Mamba-1 step: 5 FLOPs per state element + the conv's 2*8192*4; group 0 holds the 12 Mamba
  // layers with a dense FFN (even layers but 4, 12, 20, 28).
  CHECK(f.groups.at(0).layer_count == 12);
  CHECK(f.groups.at(0).attn_flops == 12 * (5LL * 8192 * 16 + 2 * 8192 * 4));
}

TEST_CASE("hybrids: Jamba defaults, periods and unmodelled biases", "[capacity]") {
  nlohmann::json c = nlohmann::json::parse(kJamba15Mini);
  c["mamba_dt_rank"] = "auto";  // ceil(4096 / 16) = 256, the published value
  CHECK(model_from_hf_config(c, "config.json").layers == parse(kJamba15Mini).layers);
  c.erase("attn_layer_period");
  c.erase("attn_layer_offset");
  CHECK(model_from_hf_config(c, "config.json").layers == parse(kJamba15Mini).layers);  // JambaConfig: 8, 4
  c["attn_layer_offset"] = 9;
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("below their periods"));
  c = nlohmann::json::parse(kJamba15Mini);
  c["mamba_proj_bias"] = true;
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("mamba_proj_bias"));
}

TEST_CASE("hybrids: Hunyuan-Large, CLA pairs share one cache, 16 experts top-1 + 1 shared", "[capacity]") {
  const ModelDesign m = parse(kHunyuanLarge);
  REQUIRE(m.layers.size() == 64);
  for (size_t i = 0; i < 64; ++i) {
    INFO("layer " << i);
    CHECK(m.layers[i].kv_source == (i % 2 == 0 ? -1 : static_cast<int>(i) - 1));
  }
  CHECK(m.layers[0].attention.head_dim == 80);  // hidden_size / heads
  CHECK(m.layers[0].kv_dtype == DType::kF16);   // torch_dtype float16: served in fp16
  const auto f = at(m, 32768);
  // 32 layers own a cache: K, V of 8 x 80 fp16 = 2560 B per token each; their partners add none.
  CHECK(f.cache_owning_layers == 32);
  CHECK(f.kv_bytes_per_token == 32 * 2560);                        // 81920
  CHECK(f.kv_bytes == 81920.0 * 32768);                            // 2684354560
  CHECK(at(m, 131072).kv_bytes == 81920.0 * 131072);               // 10737418240
  // Per layer: q, o 6400*6400 + k, v 640*6400 + q/k norms 2*80 = 90112160; MoE 17 SwiGLU experts
  // of 3*6400*18304 + router 6400*16 = 5974528000. 64 layers + tied embedding 129024*6400 + norms
  // 6400*129 = 388963549440, less k_proj and v_proj on the 32 layers that read their partner's
  // cache: Hunyuan's cross-layer attention has none (vLLM hunyuan_v1.py HunYuanCrossAttention:
  // q_proj, o_proj, q/k norms), 32 * 2 * 640*6400 = 262144000, so 388701405440. Card
  // (tencent/Hunyuan-Large): 389B total, 52B active; gmha's counts are 0.08 % and 1.3 % away
  // (active: 1 routed + 1 shared expert, both embeddings).
  CHECK(f.total_params == 388701405440LL);
  for (size_t i = 1; i < m.layers.size(); i += 2) CHECK_FALSE(m.layers[i].kv_projections);
  CHECK(off(f.total_params, 389e9) < 0.015);
  CHECK(f.active_params == 51322077440LL);
  CHECK(off(f.active_params, 52e9) < 0.015);
}

TEST_CASE("hybrids: Hunyuan without use_cla owns every cache, MLA variants fail closed", "[capacity]") {
  nlohmann::json c = nlohmann::json::parse(kHunyuanLarge);
  c["use_cla"] = false;
  const ModelDesign m = model_from_hf_config(c, "config.json");
  for (const auto& l : m.layers) CHECK(l.kv_source == -1);
  CHECK(at(m, 8).kv_bytes_per_token == 64 * 2560);
  c["kv_lora_rank"] = 512;
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("kv_lora_rank"));
  // The CLA key stays an error for a family that does not model it.
  nlohmann::json q = nlohmann::json::parse(kJamba15Mini);
  q["cla_share_factor"] = 2;
  CHECK_THROWS_WITH(model_from_hf_config(q, "config.json"), Catch::Contains("cla_share_factor"));
}

TEST_CASE("hybrids: Nemotron-NAS block_configs, a no-op attention block and per-layer FFN widths", "[capacity]") {
  // The two block_configs entries of Megatron-Bridge's sample Llama-Nemotron Super 49B
  // configuration (llama_nemotron_super_config_dict, its other fields as written), with
  // num_hidden_layers set to their count: no full published block list (80 entries) was found
  // for this work, so this checks the reading, not a model card.
  const char* sample = R"({
    "architectures": ["DeciLMForCausalLM"], "attention_bias": false, "hidden_act": "silu",
    "hidden_size": 8192, "intermediate_size": null, "max_position_embeddings": 131072,
    "mlp_bias": false, "model_type": "nemotron-nas", "num_attention_heads": 64,
    "num_hidden_layers": 2, "num_key_value_heads": null, "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
    "vocab_size": 128256,
    "block_configs": [
      {"attention": {"n_heads_in_group": 8, "no_op": false}, "ffn": {"ffn_mult": 2.625, "no_op": false}},
      {"attention": {"n_heads_in_group": null, "no_op": true}, "ffn": {"ffn_mult": 1.0, "no_op": false}}]
  })";
  const ModelDesign m = parse(sample);
  REQUIRE(m.layers.size() == 2);
  CHECK(m.layers[0].attention.kv_heads == 8);  // 64 heads in groups of 8
  CHECK_FALSE(m.layers[1].has_mixer);
  // DeciLM: int(2 * mult * 8192 / 3) rounded up to 256: 2.625 -> 14336, 1.0 -> 5461 -> 5632.
  CHECK(m.layers[0].ffn.intermediate == 14336);
  CHECK(m.layers[1].ffn.intermediate == 5632);
  const auto f = at(m, 32768);
  CHECK(f.kv_bytes_per_token == 2 * 8 * 128 * 2);               // 4096, one layer
  CHECK(f.kv_bytes == 4096.0 * 32768);                          // 134217728
  CHECK(at(m, 131072).kv_bytes == 4096.0 * 131072);             // 536870912
  // Attention 2*8192*8192 + 2*1024*8192 = 150994944; FFNs 3*8192*14336 + 3*8192*5632; embeddings
  // 2*128256*8192; norms 8192*5 (gmha's two per layer).
  CHECK(f.total_params == 2743115776LL);

  nlohmann::json c = nlohmann::json::parse(sample);
  c["block_configs"][1]["ffn"] = {{"replace_with_linear", true}};
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("replace_with_linear"));
  c = nlohmann::json::parse(sample);
  c["num_hidden_layers"] = 80;
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("block_configs has 2 entries for 80 layers"));
  c = nlohmann::json::parse(sample);
  c["block_configs"][0]["attention"]["num_sink_tokens"] = 4;
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("num_sink_tokens"));
}
