// The small Gemma stacks (docs/capacity.md, "Per-layer embeddings"): Gemma 4 E2B / E4B and
// Gemma 3n E2B / E4B, with per-layer embeddings, trailing KV-shared layers (and Gemma 4 E2B's
// double-wide MLP on them; Gemma 3n's AltUp and LAuReL), from their published configs, with KV at
// two contexts and parameters worked by hand.
#include <catch2/catch.hpp>

#include "gmha/core/error.hpp"
#include "support/hf_fixture.hpp"

using namespace gmha;
using gmha::test::exact_at;
using gmha::test::off_by;
using gmha::test::parse_config;

namespace {

// google/gemma-4-E2B config.json's text_config as engines' tests reproduce it (a Rust serving
// engine's test_detect_gemma4_e2b, "Real E2B config": these keys and values, the 35 layer_types
// written out; the same values in Gemma4Swift's ConfigurationTests), cross-checked with ollama's
// GGUF metadata of gemma4:e2b (block_count 35, shared_kv_layers 20, embedding_length_per_layer_input
// 256, head_count_kv 1, key_length 512 / key_length_swa 256) and gemma.cpp's E2B config ("mixed
// FFN (6144/12288)"). Omitted: vocab_size_per_layer_input and max_position_embeddings, which
// Gemma4TextConfig fills (262144, 131072).
const char* kGemma4E2b = R"({"model_type": "gemma4", "text_config": {
  "model_type": "gemma4_text", "hidden_size": 1536, "intermediate_size": 6144, "num_hidden_layers": 35,
  "num_attention_heads": 8, "num_key_value_heads": 1, "head_dim": 256, "global_head_dim": 512,
  "vocab_size": 262144, "sliding_window": 512, "final_logit_softcapping": 30.0,
  "hidden_size_per_layer_input": 256, "num_kv_shared_layers": 20, "attention_k_eq_v": false,
  "use_double_wide_mlp": true,
  "rope_parameters": {"full_attention": {"partial_rotary_factor": 0.25, "rope_theta": 1000000.0,
    "rope_type": "proportional"}, "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"}},
  "layer_types": [
    "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
    "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
    "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
    "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
    "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
    "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
    "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention"]}})";

// google/gemma-4-E4B config.json's text_config as a Rust engine's Gemma4Config test reproduces it
// (these keys and values), its layer_types written out as the Go fixture of the same engine
// family and Megatron-Bridge's recipe give them (full every sixth layer: "skip_freq=6").
const char* kGemma4E4b = R"({"model_type": "gemma4", "tie_word_embeddings": true, "text_config": {
  "model_type": "gemma4_text", "hidden_size": 2560, "num_hidden_layers": 42, "vocab_size": 262144,
  "rms_norm_eps": 1e-6, "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0,
  "num_attention_heads": 8, "head_dim": 256, "num_key_value_heads": 2, "global_head_dim": 512,
  "num_global_key_value_heads": null, "sliding_window": 512, "intermediate_size": 10240,
  "hidden_size_per_layer_input": 256, "vocab_size_per_layer_input": 262144, "num_kv_shared_layers": 18,
  "use_double_wide_mlp": false, "final_logit_softcapping": 30.0, "tie_word_embeddings": true,
  "max_position_embeddings": 131072,
  "layer_types": [
    "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
    "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
    "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
    "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
    "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
    "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
    "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
  "rope_parameters": {"sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"},
    "full_attention": {"rope_theta": 1000000.0, "rope_type": "proportional", "partial_rotary_factor": 0.25}}}})";

// Google's Gemma 4 model card: E2B "2.3B effective (5.1B with embeddings)", E4B "4.5B effective
// (8B with embeddings)", each with a ~150M vision and a ~300M audio encoder, which gmha does not
// count (text stack only).
constexpr double kTowers = 150e6 + 300e6;

}  // namespace

TEST_CASE("Gemma 4 E2B: 15 cache-owning layers, 20 KV-shared with a double-wide MLP, per-layer embeddings",
          "[capacity]") {
  const ModelDesign m = parse_config(kGemma4E2b);
  REQUIRE(m.layers.size() == 35);
  CHECK(m.per_layer_input_dim == 256);
  CHECK(m.per_layer_input_vocab == 262144);  // Gemma4TextConfig's default
  CHECK(m.max_context == 131072);
  // Layers 15..34 read the last layer of their type before 15: sliding 13, full 14.
  for (int i = 0; i < 15; ++i) CHECK(m.layers[static_cast<size_t>(i)].kv_source == -1);
  CHECK(m.layers[15].kv_source == 13);
  CHECK(m.layers[19].kv_source == 14);
  CHECK(m.layers[34].kv_source == 14);
  CHECK(m.layers[14].ffn.intermediate == 6144);
  CHECK(m.layers[15].ffn.intermediate == 12288);

  // KV per token: only layers 0..14 own a cache: 12 sliding x K,V of 1 x 256 bf16 (1,024 B) +
  // 3 full x K,V of 1 x 512 (2,048 B) = 18,432 B.
  const ModelFigures f32k = exact_at(m, 32768), f128k = exact_at(m, 131072);
  CHECK(f32k.kv_bytes_per_token == 18432);
  CHECK(f32k.cache_owning_layers == 15);
  // Whole cache: sliding layers cap at 512 tokens: 12 x 1,024 x 512 = 6,291,456 B; full layers
  // 3 x 2,048 x T: 201,326,592 B at 32K (207,618,048 in all), 805,306,368 B at 128K (811,597,824).
  CHECK(f32k.kv_bytes == 207618048.0);
  CHECK(f128k.kv_bytes == 811597824.0);

  // Parameters, by hand: attention 28 sliding x (q 2048x1536 + k, v 256x1536 + o + q/k norms 512)
  // = 7,078,400 and 7 full x (q 4096x1536 + k, v 512x1536 + o + 1,024) = 14,156,800: 297,292,800
  // (the shared layers keep k_proj/v_proj in the checkpoint); GeGLU 15 x 3x1536x6144 +
  // 20 x 3x1536x12288 = 1,557,135,360; tied embedding 262144x1536 = 402,653,184; per-layer table
  // 262144 x 35x256 = 2,348,810,240; per-layer inputs: projection 8960x1536 + norm 256, per layer
  // gate 256x1536 + projection 1536x256 + norm 1536 = 41,341,696; block norms 1536 x 71 = 109,056.
  CHECK(f32k.attn_params == 297292800);
  CHECK(f32k.ffn_params == 1557135360);
  CHECK(f32k.per_layer_embedding_params == 2348810240);
  CHECK(f32k.embedding_params == 402653184 + 2348810240);
  CHECK(f32k.total_params == 4647342336);
  // The card's "5.1B with embeddings" is text + towers: 4.647 B + 0.45 B, 0.06 % off.
  CHECK(off_by(static_cast<double>(f32k.total_params) + kTowers, 5.1e9) < 0.015);
  // Its "2.3B effective" is the text stack without the per-layer table: 2.2985 B, 0.06 % off.
  CHECK(off_by(static_cast<double>(f32k.total_params - f32k.per_layer_embedding_params), 2.3e9) < 0.015);
  // Both tables are lookups: neither counts as active compute.
  CHECK(f32k.active_params_excl_input_embedding == f32k.total_params - 402653184 - 2348810240);
  CHECK(f32k.active_params_excl_embeddings == f32k.active_params_excl_input_embedding);
}

TEST_CASE("Gemma 4 E4B: 24 cache-owning layers, 18 KV-shared, per-layer embeddings", "[capacity]") {
  const ModelDesign m = parse_config(kGemma4E4b);
  REQUIRE(m.layers.size() == 42);
  // Layers 24..41 read layer 22 (sliding) or 23 (full); no double-wide MLP.
  CHECK(m.layers[24].kv_source == 22);
  CHECK(m.layers[29].kv_source == 23);
  CHECK(m.layers[41].kv_source == 23);
  CHECK(m.layers[41].ffn.intermediate == 10240);
  // KV per token: 20 sliding x 2 x 256 x 2 x 2 B (2,048 B) + 4 full x 2 x 512 x 2 x 2 B (4,096 B)
  // = 57,344 B. Whole cache: 20 x 2,048 x 512 = 20,971,520 B + 4 x 4,096 x T.
  const ModelFigures f32k = exact_at(m, 32768), f128k = exact_at(m, 131072);
  CHECK(f32k.kv_bytes_per_token == 57344);
  CHECK(f32k.kv_bytes == 20971520.0 + 536870912.0);
  CHECK(f128k.kv_bytes == 20971520.0 + 2147483648.0);
  // Parameters: attention 35 x 13,107,712 + 7 x 26,215,424 = 642,277,888; GeGLU 42 x 3 x 2560 x
  // 10240 = 3,303,014,400; tied embedding 671,088,640; per-layer table 262144 x 42 x 256 =
  // 2,818,572,288; per-layer inputs 82,683,136; block norms 2560 x 85 = 217,600.
  CHECK(f32k.attn_params == 642277888);
  CHECK(f32k.ffn_params == 3303014400);
  CHECK(f32k.total_params == 7517853952);
  // "8B with embeddings": text + towers = 7.968 B, 0.4 % off. The card's "4.5B effective" fits
  // another convention than E2B's: text without both tables plus the towers, 4.478 B (0.5 %);
  // the text without the per-layer table alone is 4.699 B (4.4 % off).
  CHECK(off_by(static_cast<double>(f32k.total_params) + kTowers, 8e9) < 0.015);
  CHECK(off_by(static_cast<double>(f32k.active_params_excl_embeddings) + kTowers, 4.5e9) < 0.015);
}

TEST_CASE("Gemma 4 per-layer embeddings and KV sharing: defaults and bad values", "[capacity]") {
  // Omitted hidden_size_per_layer_input takes Gemma4TextConfig's 256; written null or 0: none.
  nlohmann::json c = nlohmann::json::parse(kGemma4E4b);
  c["text_config"].erase("hidden_size_per_layer_input");
  CHECK(model_from_hf_config(c, "config.json").per_layer_input_dim == 256);
  c["text_config"]["hidden_size_per_layer_input"] = nullptr;
  CHECK(model_from_hf_config(c, "config.json").per_layer_input_dim == 0);
  c["text_config"]["hidden_size_per_layer_input"] = -1;
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("hidden_size_per_layer_input"));
  nlohmann::json s = nlohmann::json::parse(kGemma4E4b);
  s["text_config"]["num_kv_shared_layers"] = 43;
  CHECK_THROWS_WITH(model_from_hf_config(s, "config.json"),
                    Catch::Contains("num_kv_shared_layers") && Catch::Contains("43 for 42 layers"));
  // Every layer shared (first shared layer 0): transformers shares nothing.
  s["text_config"]["num_kv_shared_layers"] = 42;
  CHECK(model_from_hf_config(s, "config.json").layers[41].kv_source == -1);
  // A shared full layer with no full layer before the shared ones has no cache to read.
  nlohmann::json t = nlohmann::json::parse(kGemma4E2b);
  t["text_config"]["num_kv_shared_layers"] = 31;  // layers 4..34 shared: only sliding 0..3 own
  CHECK_THROWS_WITH(model_from_hf_config(t, "config.json"),
                    Catch::Contains("KV-shared layer 4 (full_attention) has no earlier full_attention layer"));
}

namespace {

// Gemma 3n E2B (google/gemma-3n-E2B): the text_config of its config.json with the values Google's
// own conversion code gives the model (google-ai-edge/ai-edge-torch, gemma3n get_model_config_e2b:
// 30 layers of d 2048, 8 heads and 2 KV heads of 256, GeGLU 8192, window 512 with every fifth
// layer global, vocab 262400, and its gemma3n_config block verbatim: per-layer inputs 256 over
// 262144, laurel_rank 64, altup_num_inputs 4, num_kv_shared_layers 10, activation sparsity 0.95 on
// the first 10 layers), under transformers' key names.
const char* kGemma3nE2b = R"({"model_type": "gemma3n", "text_config": {
  "model_type": "gemma3n_text", "hidden_size": 2048, "num_hidden_layers": 30, "intermediate_size": 8192,
  "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 256, "vocab_size": 262400,
  "max_position_embeddings": 32768, "sliding_window": 512, "final_logit_softcapping": 30.0,
  "hidden_size_per_layer_input": 256, "vocab_size_per_layer_input": 262144, "laurel_rank": 64,
  "altup_num_inputs": 4, "altup_active_idx": 0, "altup_coef_clip": 120.0, "altup_correct_scale": true,
  "num_kv_shared_layers": 10,
  "activation_sparsity_pattern": [0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]},
  "vision_config": {"model_type": "gemma3n_vision"}, "audio_config": {"model_type": "gemma3n_audio"}})";

// Gemma 3n E4B: the architecture fields of its text_config as engines' fixtures give them (the same
// values in ai-edge-torch's get_model_config_e4b: 35 layers, GeGLU 16384, 15 KV-shared).
const char* kGemma3nE4b = R"({"model_type": "gemma3n", "text_config": {
  "model_type": "gemma3n_text", "hidden_size": 2048, "num_hidden_layers": 35,
  "intermediate_size": 16384, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 256,
  "vocab_size": 262400, "vocab_size_per_layer_input": 262144, "hidden_size_per_layer_input": 256,
  "num_kv_shared_layers": 15, "sliding_window": 512, "altup_num_inputs": 4, "laurel_rank": 64}})";

}  // namespace

TEST_CASE("Gemma 3n E2B and E4B: 20 cache-owning layers, AltUp and LAuReL counted", "[capacity]") {
  const ModelDesign e2b = parse_config(kGemma3nE2b), e4b = parse_config(kGemma3nE4b);
  REQUIRE(e2b.layers.size() == 30);
  REQUIRE(e4b.layers.size() == 35);
  // The shared layers read the last layer of their type before them: sliding 18, full 19.
  CHECK(e2b.layers[20].kv_source == 18);
  CHECK(e2b.layers[24].kv_source == 19);
  CHECK(e4b.layers[34].kv_source == 19);
  CHECK(e2b.altup_inputs == 4);
  CHECK(e2b.laurel_rank == 64);
  // Both keep 16 sliding + 4 full cache-owning layers of K, V 2 x 256 bf16 (2,048 B each):
  // 40,960 B per token; at 8K 16 x 2,048 x 512 + 4 x 2,048 x 8,192 = 83,886,080 B, at 32K
  // (max_position_embeddings) 285,212,672 B.
  for (const ModelDesign* m : {&e2b, &e4b}) {
    const ModelFigures f8k = exact_at(*m, 8192), f32k = exact_at(*m, 32768);
    CHECK(f8k.kv_bytes_per_token == 40960);
    CHECK(f8k.cache_owning_layers == 20);
    CHECK(f8k.kv_bytes == 83886080.0);
    CHECK(f32k.kv_bytes == 285212672.0);
  }
  // E2B parameters by hand: attention 30 x (2 x 2048^2 + 2 x 512 x 2048 + q/k norms 512) =
  // 314,588,160; GeGLU 30 x 3 x 2048 x 8192 = 1,509,949,440; per-layer projections and norms
  // 47,247,616; AltUp 2 x 3 x 2048^2 + 30 x (2 x 2048 + 16 + 64 + 4 x 2048) = 25,536,864; LAuReL
  // 30 x (2 x 64 x 2048 + 2048) = 7,925,760; block norms 2048 x 61 = 124,928. With the tied
  // embedding (262400 x 2048) and the per-layer table (262144 x 30 x 256): 4,456,033,888.
  const ModelFigures f = exact_at(e2b, 8192);
  CHECK(f.attn_params == 314588160);
  CHECK(f.ffn_params == 1509949440);
  CHECK(f.per_layer_embedding_params == 2013265920);
  CHECK(f.total_params == 4456033888);
  // Google's gemma3n-slicing-configs table gives the effective sizes (without both embedding
  // tables, text only): E2B "1.91" B (gmha 1.905 B), E4B "3.98" B (gmha 3.980 B).
  CHECK(f.active_params_excl_embeddings == 1905372768);
  CHECK(off_by(static_cast<double>(f.active_params_excl_embeddings), 1.91e9) < 0.015);
  CHECK(off_by(static_cast<double>(exact_at(e4b, 8192).active_params_excl_embeddings), 3.98e9) < 0.015);
}

TEST_CASE("Gemma 3n per-layer MLP widths and bad values", "[capacity]") {
  nlohmann::json c = nlohmann::json::parse(kGemma3nE2b);
  nlohmann::json widths = nlohmann::json::array();
  for (int i = 0; i < 30; ++i) widths.push_back(i < 20 ? 8192 : 16384);
  c["text_config"]["intermediate_size"] = widths;
  const ModelDesign m = model_from_hf_config(c, "config.json");
  CHECK(m.layers[19].ffn.intermediate == 8192);
  CHECK(m.layers[20].ffn.intermediate == 16384);
  c["text_config"]["intermediate_size"] = nlohmann::json::array({8192, 8192});
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("intermediate_size lists 2 widths for 30 layers"));
  nlohmann::json a = nlohmann::json::parse(kGemma3nE2b);
  a["text_config"]["altup_num_inputs"] = 0;
  CHECK_THROWS_WITH(model_from_hf_config(a, "config.json"), Catch::Contains("altup_num_inputs"));
}
