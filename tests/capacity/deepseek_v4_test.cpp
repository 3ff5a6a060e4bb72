// DeepSeek-V4 (model_type deepseek_v4): the published configs as fixtures, the per-layer
// attention weights checked against the published checkpoints' tensor lists, KV worked by hand
// at 32K and 128K, parameters against the model cards, and the V4 vs V3.2 cache ratio.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "gmha/attention/hf_config.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/attention/weights.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/core/error.hpp"

using namespace gmha;

namespace {

// https://huggingface.co/deepseek-ai/DeepSeek-V4-Flash/blob/main/config.json, as published
// (44 compress_ratios: 43 layers and the MTP layer's 0).
const char* kFlash = R"({
  "architectures": ["DeepseekV4ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 0, "eos_token_id": 1, "hc_eps": 1e-06, "hc_mult": 4, "hc_sinkhorn_iters": 20,
  "head_dim": 512, "hidden_act": "silu", "hidden_size": 4096, "index_head_dim": 128,
  "index_n_heads": 64, "index_topk": 512, "initializer_range": 0.02,
  "max_position_embeddings": 1048576, "model_type": "deepseek_v4", "moe_intermediate_size": 2048,
  "n_routed_experts": 256, "n_shared_experts": 1, "norm_topk_prob": true,
  "num_attention_heads": 64, "num_experts_per_tok": 6, "num_hidden_layers": 43,
  "num_hash_layers": 3, "num_key_value_heads": 1, "num_nextn_predict_layers": 1, "o_groups": 8,
  "o_lora_rank": 1024, "q_lora_rank": 1024, "qk_rope_head_dim": 64,
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
    "scale_fmt": "ue8m0", "weight_block_size": [128, 128]},
  "rms_norm_eps": 1e-06,
  "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 16,
    "original_max_position_embeddings": 65536, "type": "yarn"},
  "rope_theta": 10000, "routed_scaling_factor": 1.5, "scoring_func": "sqrtsoftplus",
  "sliding_window": 128, "swiglu_limit": 10.0, "tie_word_embeddings": false,
  "topk_method": "noaux_tc", "torch_dtype": "bfloat16", "transformers_version": "4.57.1",
  "use_cache": true, "vocab_size": 129280, "compress_rope_theta": 160000,
  "compress_ratios": [0, 0, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 0]
})";

// https://huggingface.co/deepseek-ai/DeepSeek-V4-Pro/blob/main/config.json, as published (62
// compress_ratios: 61 layers and the MTP layer's 0).
const char* kPro = R"({
  "architectures": ["DeepseekV4ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 0, "eos_token_id": 1, "hc_eps": 1e-06, "hc_mult": 4, "hc_sinkhorn_iters": 20,
  "head_dim": 512, "hidden_act": "silu", "hidden_size": 7168, "index_head_dim": 128,
  "index_n_heads": 64, "index_topk": 1024, "initializer_range": 0.02,
  "max_position_embeddings": 1048576, "model_type": "deepseek_v4", "moe_intermediate_size": 3072,
  "n_routed_experts": 384, "n_shared_experts": 1, "norm_topk_prob": true,
  "num_attention_heads": 128, "num_experts_per_tok": 6, "num_hidden_layers": 61,
  "num_hash_layers": 3, "num_key_value_heads": 1, "num_nextn_predict_layers": 1, "o_groups": 16,
  "o_lora_rank": 1024, "q_lora_rank": 1536, "qk_rope_head_dim": 64,
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
    "scale_fmt": "ue8m0", "weight_block_size": [128, 128]},
  "rms_norm_eps": 1e-06,
  "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 16,
    "original_max_position_embeddings": 65536, "type": "yarn"},
  "rope_theta": 10000, "routed_scaling_factor": 2.5, "scoring_func": "sqrtsoftplus",
  "sliding_window": 128, "swiglu_limit": 10.0, "tie_word_embeddings": false,
  "topk_method": "noaux_tc", "torch_dtype": "bfloat16", "transformers_version": "4.57.1",
  "use_cache": true, "vocab_size": 129280, "compress_rope_theta": 160000,
  "compress_ratios": [128, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 0]
})";

ModelDesign parse(const char* text) { return model_from_hf_config(nlohmann::json::parse(text), "config.json"); }
ModelFigures at(const ModelDesign& m, int64_t context) { return compute_figures(m, {context, 1, Convention::kExact}); }
double off(int64_t got, double card) { return std::abs(static_cast<double>(got) - card) / card; }

// Attention parameters of the layers of one fill rule.
int64_t attn_params_of(const ModelFigures& f, SpanKind kind, int64_t ratio) {
  for (const auto& g : f.groups) {
    if (g.spec.span.kind == kind && g.spec.span.ratio == ratio) return g.attn_params_per_layer;
  }
  return -1;
}
int64_t layers_of(const ModelFigures& f, SpanKind kind, int64_t ratio) {
  int64_t n = 0;
  for (const auto& g : f.groups) {
    if (g.spec.span.kind == kind && g.spec.span.ratio == ratio) n += g.layer_count;
  }
  return n;
}

}  // namespace

TEST_CASE("deepseek_v4: layers are window, CSA and HCA as compress_ratios says", "[capacity][deepseek_v4]") {
  const ModelFigures pro = at(parse(kPro), 32768);
  CHECK(pro.layers == 61);
  CHECK(layers_of(pro, SpanKind::kCompressed, 128) == 31);  // layers 0, 1, 3, 5, ..., 59
  CHECK(layers_of(pro, SpanKind::kCompressed, 4) == 30);    // layers 2, 4, ..., 60
  const ModelFigures flash = at(parse(kFlash), 32768);
  CHECK(flash.layers == 43);
  CHECK(layers_of(flash, SpanKind::kSlidingWindow, 0) == 2);
  CHECK(layers_of(flash, SpanKind::kCompressed, 4) == 21);
  CHECK(layers_of(flash, SpanKind::kCompressed, 128) == 20);
  CHECK(pro.cache_owning_layers == 61);
}

TEST_CASE("deepseek_v4: attention weights match the published checkpoints' tensors", "[capacity][deepseek_v4]") {
  // DeepSeek-V4-Pro's safetensors, per layer: wq_a [1536, 7168], q_norm [1536], wq_b [65536, 1536],
  // wkv [512, 7168], kv_norm [512], wo_a [16384, 4096], wo_b [7168, 16384], attn_sink [128],
  // hc_{attn,ffn}_fn [24, 28672], _base [24], _scale [3]: 301,271,222. HCA layers add
  // compressor.wkv, .wgate [512, 7168], .ape [128, 512], .norm [512] (7,406,080): 308,677,302.
  // CSA layers add compressor.wkv, .wgate [1024, 7168], .ape [4, 1024], .norm [512];
  // indexer.wq_b [8192, 1536], .weights_proj [64, 7168], indexer.compressor.wkv, .wgate
  // [256, 7168], .ape [4, 256], .norm [128] (31,397,504): 332,668,726.
  const ModelFigures pro = at(parse(kPro), 4096);
  CHECK(attn_params_of(pro, SpanKind::kCompressed, 128) == 308677302);
  CHECK(attn_params_of(pro, SpanKind::kCompressed, 4) == 332668726);
  // DeepSeek-V4-Flash: 107,742,838 on the window layers 0-1 (wq_a [1024, 4096], wq_b
  // [32768, 1024], wkv [512, 4096], wo_a [8192, 4096], wo_b [4096, 8192], ...), 112,003,190 HCA,
  // 126,885,110 CSA.
  const ModelFigures flash = at(parse(kFlash), 4096);
  CHECK(attn_params_of(flash, SpanKind::kSlidingWindow, 0) == 107742838);
  CHECK(attn_params_of(flash, SpanKind::kCompressed, 128) == 112003190);
  CHECK(attn_params_of(flash, SpanKind::kCompressed, 4) == 126885110);
  const auto w = layer_weights(parse(kPro).layers[2]);
  CHECK(w.front().name == "q_a_proj");
  bool wo_a = false;
  for (const auto& t : w) wo_a = wo_a || (t.name == "wo_a" && t.rows == 16384 && t.cols == 4096);
  CHECK(wo_a);
}

TEST_CASE("deepseek_v4: KV cache at 32K and 128K by hand", "[capacity][deepseek_v4]") {
  // Every layer keeps the last 128 raw 512-wide latents (K = V, stored once) in bf16, 1024 B
  // each; HCA adds floor(T/128) compressed latents, CSA floor(T/4) and as many index keys of
  // 132 B (128 fp8 + one fp32 scale). Pro at T = 32768: HCA (128 + 256) * 1024 = 393,216 B x 31;
  // CSA (128 + 8192) * 1024 + 8192 * 132 = 9,601,024 B x 30: 300,220,416 B. At 131072: HCA
  // (128 + 1024) * 1024 x 31 = 36,569,088; CSA (128 + 32768) * 1024 + 32768 * 132 = 38,010,880
  // x 30 = 1,140,326,400: 1,176,895,488 B.
  const ModelDesign pro = parse(kPro);
  CHECK(at(pro, 32768).kv_bytes == 300220416);
  CHECK(at(pro, 131072).kv_bytes == 1176895488);
  // Flash: 2 window layers 131,072 B; 20 HCA and 21 CSA as above: 209,747,968 and 822,083,584 B.
  const ModelDesign flash = parse(kFlash);
  CHECK(at(flash, 32768).kv_bytes == 209747968);
  CHECK(at(flash, 131072).kv_bytes == 822083584);
  // Per token (windows cap the cache, not this): Pro 31 * 1024 * 129/128 + 30 * (1024 * 5/4 + 33)
  // = 71,382 B; Flash 2 * 1024 + 20 * 1032 + 21 * 1313 = 50,261 B.
  CHECK(at(pro, 32768).kv_bytes_per_token == 71382);
  CHECK(at(flash, 32768).kv_bytes_per_token == 50261);
  // Read per decoded token at 128K (Pro): HCA 1152 entries x 31, CSA (128 + 1024) entries and
  // 32768 index keys x 30 = 201,719,808 B.
  CHECK(at(pro, 131072).decode_kv_bytes_read == 201719808);
}

TEST_CASE("deepseek_v4: parameters against the model cards", "[capacity][deepseek_v4]") {
  // Cards (huggingface.co/deepseek-ai/DeepSeek-V4-Pro, -Flash): Pro 1.6T total, 49B activated;
  // Flash 284B total, 13B activated. gmha counts the 61 (43) layers, both embeddings and the
  // norms, not the MTP module (as for DeepSeek-V3), nor the hash layers' tid2eid tables, the
  // router biases or hc_head (115K).
  const ModelFigures flash = at(parse(kFlash), 4096);
  CHECK(flash.total_params == 284332164690);
  CHECK(off(flash.total_params, 284e9) < 0.015);  // 0.12 %
  // Flash active: 13,270,025,810 without the input embedding (the card's 13B, 2.1 % above it,
  // inside its rounding to two digits; 12.74B without both embeddings, 13.80B with them).
  CHECK(flash.active_params_excl_input_embedding == 13270025810);
  CHECK(flash.active_params_excl_input_embedding < 13.5e9);
  const ModelFigures pro = at(parse(kPro), 4096);
  // Pro: 1,572,997,064,798 total, which the card rounds to 1.6T (1.7 % below it); the MTP
  // module (one more layer, ~25.8B) would bring it to 1.599T.
  CHECK(pro.total_params == 1572997064798);
  CHECK(pro.total_params >= 1.55e12);
  CHECK(pro.total_params < 1.65e12);
  // Pro active without the input embedding: 48,852,265,054, 0.3 % below the card's 49B.
  CHECK(pro.active_params_excl_input_embedding == 48852265054);
  CHECK(off(pro.active_params_excl_input_embedding, 49e9) < 0.015);
}

TEST_CASE("deepseek_v4: ranks of the shared K=V latent and the grouped output", "[capacity][deepseek_v4]") {
  const ModelDesign pro = parse(kPro);
  const CapacityRanks r = capacity_ranks(pro.layers[2].attention);
  CHECK(r.frh == 448);            // 512 - 64 RoPE dims
  CHECK(r.slsd == 448);           // one latent
  CHECK(r.vo_group_rank == 1024); // min(o_lora_rank 1024, 8 heads x 512, d)
  CHECK(r.vo_rank == 512);
}

TEST_CASE("known answer: DeepSeek-V4-Pro keeps about a tenth of V3.2's cache at 1M", "[capacity][deepseek_v4]") {
  // V4 card: "in the 1M-token context setting, DeepSeek-V4-Pro requires only ... 10% of KV cache
  // compared with DeepSeek-V3.2". By elements (fp8, one byte each; index keys 132 B in both):
  // V4-Pro 61 * 128 * 512 + 30 * 262144 * (512 + 132) + 31 * 8192 * 512 = 5,198,643,200; V3.2
  // 61 * 1048576 * (576 + 132) = 45,285,900,288: 11.5 %, the card's "10 %" to one digit.
  ModelDesign v4 = parse(kPro);
  ModelDesign v32 = read_preset("deepseek-v3.2");
  v4.set_kv_dtype(DType::kF8E4M3);
  v32.set_kv_dtype(DType::kF8E4M3);
  const int64_t t = int64_t{1} << 20;
  const double a = at(v4, t).kv_bytes, b = at(v32, t).kv_bytes;
  CHECK(a == 5198643200.0);
  CHECK(b == 45285900288.0);
  CHECK(a / b == Approx(0.1148).epsilon(1e-3));
  CHECK(a / b < 0.15);
}

TEST_CASE("deepseek_v4: presets are the published configs and unmodelled keys fail closed", "[capacity][deepseek_v4]") {
  CHECK(at(read_preset("deepseek-v4-pro"), 131072).kv_bytes == 1176895488);
  CHECK(at(read_preset("deepseek-v4-flash"), 131072).kv_bytes == 822083584);
  CHECK(at(read_preset("deepseek-v4-pro"), 4096).total_params == 1572997064798);
  nlohmann::json j = nlohmann::json::parse(kFlash);
  j["compress_ratios"][5] = 8;
  CHECK_THROWS_WITH(model_from_hf_config(j, "c.json"), Catch::Contains("compress_ratios[5] = 8"));
  j = nlohmann::json::parse(kFlash);
  j["kv_source_layer_ids"] = {2, 8};
  CHECK_THROWS_WITH(model_from_hf_config(j, "c.json"), Catch::Contains("kv_source_layer_ids"));
  j = nlohmann::json::parse(kFlash);
  j["compress_ratios"].erase(0);
  CHECK_THROWS_WITH(model_from_hf_config(j, "c.json"), Catch::Contains("compress_ratios has 43 entries"));
}
