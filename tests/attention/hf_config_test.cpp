// config.json files as Hugging Face publishes them (relevant fields, same names and nesting);
// each must give the same figures as the matching built-in preset.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "gmha/attention/hf_config.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/attention/weights.hpp"
#include "gmha/core/error.hpp"
#include "support/input_error.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using nlohmann::json;

namespace {

ModelDesign parse(const std::string& text) { return model_from_hf_config(json::parse(text), "config.json"); }

void check_same_as_preset(const ModelDesign& m, const std::string& preset) {
  INFO(preset);
  const ModelDesign p = read_preset(preset);
  REQUIRE(m.layers.size() == p.layers.size());
  for (size_t i = 0; i < m.layers.size(); ++i) {
    INFO("layer " << i);
    CHECK(same_layer(m.layers[i], p.layers[i]));
  }
  // Every figure derives from the layers and these fields (docs/architecture.md).
  CHECK(m.d_model == p.d_model);
  CHECK(m.vocab_size == p.vocab_size);
  CHECK(m.tied_embeddings == p.tied_embeddings);
}

const char* kDeepSeekV3 = R"({
  "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
  "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
  "num_hidden_layers": 61, "num_nextn_predict_layers": 1, "num_attention_heads": 128,
  "num_key_value_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256,
  "num_experts_per_tok": 8, "first_k_dense_replace": 3, "moe_layer_freq": 1,
  "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
  "v_head_dim": 128, "vocab_size": 129280, "tie_word_embeddings": false,
  "rope_scaling": {"type": "yarn", "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0,
                   "original_max_position_embeddings": 4096, "beta_fast": 32, "beta_slow": 1},
  "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}
})";

const char* kStep3 = R"({
  "architectures": ["Step3VLForConditionalGeneration"], "model_type": "step3_vl",
  "text_config": {
    "architectures": ["Step3TextForCausalLM"], "model_type": "step3_text",
    "hidden_size": 7168, "intermediate_size": 18432, "num_attention_heads": 64,
    "num_attention_groups": 1, "num_hidden_layers": 61, "max_seq_len": 65536,
    "vocab_size": 128815, "rms_norm_eps": 1e-05, "moe_intermediate_size": 5120,
    "moe_num_experts": 48, "moe_top_k": 3, "rope_theta": 500000, "share_expert_dim": 5120,
    "share_q_dim": 2048, "head_dim": 256, "norm_expert_weight": false,
    "moe_layers_enum": "4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59"
  },
  "vision_config": {"hidden_size": 1792, "num_hidden_layers": 63}
})";

const char* kLlama4 = R"({
  "architectures": ["Llama4ForConditionalGeneration"], "model_type": "llama4",
  "text_config": {
    "model_type": "llama4_text", "hidden_size": 5120, "intermediate_size": 8192,
    "intermediate_size_mlp": 16384, "num_attention_heads": 40, "num_key_value_heads": 8,
    "head_dim": 128, "num_hidden_layers": 48, "num_local_experts": 128,
    "num_experts_per_tok": 1, "interleave_moe_layer_step": 2, "attention_chunk_size": 8192,
    "vocab_size": 202048, "rope_theta": 500000.0,
    "no_rope_layers": [1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0]
  }
})";

const char* kMiniMax = R"({
  "architectures": ["MiniMaxM1ForCausalLM"], "model_type": "minimax_m1",
  "hidden_size": 6144, "intermediate_size": 9216, "num_attention_heads": 64,
  "num_key_value_heads": 8, "head_dim": 128, "num_hidden_layers": 80,
  "num_local_experts": 32, "num_experts_per_tok": 2, "vocab_size": 200064,
  "attn_type_list": [0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,1,
                     0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,1]
})";

}  // namespace

TEST_CASE("hf config: DeepSeek-V3 (MLA, first 3 dense) matches the preset", "[attention]") {
  check_same_as_preset(parse(kDeepSeekV3), "deepseek-v3");
}

TEST_CASE("hf config: Kimi K2 (kimi_k2, 64 heads, 384 experts) matches the preset", "[attention]") {
  json j = json::parse(kDeepSeekV3);
  j["model_type"] = "kimi_k2";
  j["num_attention_heads"] = 64;
  j["num_key_value_heads"] = 64;
  j["n_routed_experts"] = 384;
  j["first_k_dense_replace"] = 1;
  j["vocab_size"] = 163840;
  check_same_as_preset(model_from_hf_config(j, "kimi"), "kimi-k2");
}

TEST_CASE("hf config: DeepSeek-V2-Lite with q_lora_rank null has no query compression", "[attention]") {
  const char* text = R"({"model_type": "deepseek_v2", "hidden_size": 2048, "intermediate_size": 10944,
    "moe_intermediate_size": 1408, "num_hidden_layers": 27, "num_attention_heads": 16,
    "num_key_value_heads": 16, "n_shared_experts": 2, "n_routed_experts": 64,
    "num_experts_per_tok": 6, "first_k_dense_replace": 1, "moe_layer_freq": 1, "q_lora_rank": null,
    "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
    "vocab_size": 102400})";
  check_same_as_preset(parse(text), "deepseek-v2-lite");
}

TEST_CASE("hf config: Step-3 VL (nested text_config, moe_layers_enum string) matches", "[attention]") {
  check_same_as_preset(parse(kStep3), "step3");
  // moe_layers_enum as a list works too.
  json j = json::parse(kStep3);
  json list = json::array();
  for (int i = 4; i <= 59; ++i) list.push_back(i);
  j["text_config"]["moe_layers_enum"] = list;
  check_same_as_preset(model_from_hf_config(j, "step3"), "step3");
}

TEST_CASE("hf config: Llama 4 Maverick (text_config, no_rope_layers) matches", "[attention]") {
  check_same_as_preset(parse(kLlama4), "llama4-maverick");
  // Without no_rope_layers the default interval of 4 gives the same layout.
  json j = json::parse(kLlama4);
  j["text_config"].erase("no_rope_layers");
  check_same_as_preset(model_from_hf_config(j, "llama4"), "llama4-maverick");
}

TEST_CASE("hf config: MiniMax-M1 attn_type_list gives 70 linear + 10 softmax layers", "[attention]") {
  check_same_as_preset(parse(kMiniMax), "minimax-m1");
}

TEST_CASE("hf config: MiniMax's layer_types (transformers' converted configs) say the same", "[attention]") {
  // MiniMax-Text-01-hf: model_type minimax, layer_types in place of attn_type_list.
  json j = json::parse(kMiniMax);
  j["model_type"] = "minimax";
  json names = json::array();
  for (const auto& t : j["attn_type_list"]) names.push_back(t.get<int>() == 1 ? "full_attention" : "linear_attention");
  j["layer_types"] = names;
  check_same_as_preset(model_from_hf_config(j, "minimax"), "minimax-m1");  // both, agreeing
  j.erase("attn_type_list");
  check_same_as_preset(model_from_hf_config(j, "minimax"), "minimax-m1");
  j["layer_types"][3] = "sliding_attention";
  CHECK_THAT(test::input_error_of([&] { model_from_hf_config(j, "minimax"); }),
             Catch::Contains("layer_types[3] = 'sliding_attention'"));
  j = json::parse(kMiniMax);
  j["layer_types"] = names;
  j["layer_types"][0] = "full_attention";
  CHECK_THAT(test::input_error_of([&] { model_from_hf_config(j, "minimax"); }),
             Catch::Contains("layer_types and attn_type_list disagree"));
}

TEST_CASE("hf config: dense GQA families read head_dim when present", "[attention]") {
  check_same_as_preset(parse(R"({"model_type": "qwen3", "hidden_size": 5120, "intermediate_size": 25600,
    "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 128, "num_hidden_layers": 64,
    "vocab_size": 151936, "sliding_window": null, "use_sliding_window": false,
    "tie_word_embeddings": false})"), "qwen3-32b");
  check_same_as_preset(parse(R"({"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944,
    "num_attention_heads": 28, "num_key_value_heads": 4, "num_hidden_layers": 28,
    "vocab_size": 152064, "sliding_window": 131072, "use_sliding_window": false,
    "max_window_layers": 28})"), "qwen2.5-7b");
  check_same_as_preset(parse(R"({"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
    "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 32,
    "vocab_size": 128256, "rope_theta": 500000.0})"), "llama3-8b");
  check_same_as_preset(parse(R"({"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336,
    "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 32,
    "vocab_size": 32000, "sliding_window": 4096, "rope_theta": 10000.0})"), "mistral-7b-v0.1");
  check_same_as_preset(parse(R"({"model_type": "qwen3_moe", "hidden_size": 4096, "intermediate_size": 12288,
    "moe_intermediate_size": 1536, "num_attention_heads": 64, "num_key_value_heads": 4,
    "head_dim": 128, "num_hidden_layers": 94, "num_experts": 128, "num_experts_per_tok": 8,
    "decoder_sparse_step": 1, "mlp_only_layers": [], "vocab_size": 151936})"), "qwen3-235b-a22b");
  check_same_as_preset(parse(R"({"model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336,
    "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 32,
    "num_local_experts": 8, "num_experts_per_tok": 2, "vocab_size": 32000, "sliding_window": null})"),
                       "mixtral-8x7b");
}

TEST_CASE("hf config: ERNIE 4.5 MoE layers from moe_layer_start_index", "[attention]") {
  check_same_as_preset(parse(R"({"model_type": "ernie4_5_moe", "hidden_size": 8192,
    "intermediate_size": 28672, "num_attention_heads": 64, "num_key_value_heads": 8,
    "num_hidden_layers": 54, "moe_num_experts": 64, "moe_k": 8, "moe_intermediate_size": 3584,
    "moe_num_shared_experts": 0, "moe_layer_start_index": 3, "moe_layer_end_index": 53,
    "moe_layer_interval": 1, "vocab_size": 103424})"), "ernie-4.5-300b-a47b");
}

TEST_CASE("hf config: Gemma 2 alternates sliding and global layers, Gemma 3 every 6th global", "[attention]") {
  check_same_as_preset(parse(R"({"model_type": "gemma2", "hidden_size": 3584, "intermediate_size": 14336,
    "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256, "num_hidden_layers": 42,
    "sliding_window": 4096, "vocab_size": 256000})"), "gemma2-9b");
  const ModelDesign g3 = parse(R"({"model_type": "gemma3", "text_config": {"model_type": "gemma3_text",
    "hidden_size": 2560, "intermediate_size": 10240, "num_attention_heads": 8,
    "num_key_value_heads": 4, "head_dim": 256, "num_hidden_layers": 34, "sliding_window": 1024,
    "sliding_window_pattern": 6, "vocab_size": 262208}})");
  int global = 0;
  for (size_t i = 0; i < g3.layers.size(); ++i) {
    const bool is_global = g3.layers[i].span.kind == SpanKind::kFull;
    global += is_global;
    CHECK(is_global == ((i + 1) % 6 == 0));
  }
  CHECK(global == 5);
}

TEST_CASE("hf config: layer_types overrides the model's own rule", "[attention]") {
  const ModelDesign m = parse(R"({"model_type": "qwen3", "hidden_size": 64, "intermediate_size": 128,
    "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 3, "sliding_window": 16,
    "layer_types": ["sliding_attention", "full_attention", "sliding_attention"]})");
  CHECK(m.layers[0].span.kind == SpanKind::kSlidingWindow);
  CHECK(m.layers[1].span.kind == SpanKind::kFull);
  CHECK(m.layers[2].span.tokens == 16);
}

TEST_CASE("hf config: errors name the file and the field", "[attention]") {
  auto err = [](const std::string& text) -> std::string {
    try {
      parse(text);
    } catch (const InputError& e) {
      return e.what();
    }
    return "(no error)";
  };
  CHECK_THAT(err(R"({"model_type": "gpt_neox"})"), Catch::Contains("model_type 'gpt_neox' is not supported"));
  CHECK_THAT(err(R"({"hidden_size": 8})"), Catch::Contains("missing field 'model_type'"));
  CHECK_THAT(err(R"({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
    "intermediate_size": 1})"), Catch::Contains("config.json: missing field 'num_hidden_layers'"));
  CHECK_THAT(err(R"({"model_type": "llama", "hidden_size": "4096"})"),
             Catch::Contains("field 'hidden_size' must be an integer"));
  // Found by the config.json fuzzer: a float far outside int64 was cast before it was range-checked.
  CHECK_THAT(err(R"({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 6.4e79})"),
             Catch::Contains("field 'num_attention_heads' must be an integer (got 6.4e+79)"));
  CHECK_THAT(err(R"({"model_type": "llama", "hidden_size": 4096.0, "num_attention_heads": 32.5})"),
             Catch::Contains("field 'num_attention_heads' must be an integer"));
  CHECK_THAT(err(R"({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
    "num_key_value_heads": 5, "num_hidden_layers": 2, "intermediate_size": 8})"),
             Catch::Contains("not divisible by num_key_value_heads 5"));
  CHECK_THAT(err(R"({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
    "num_hidden_layers": -2, "intermediate_size": 8})"), Catch::Contains("num_hidden_layers"));
  CHECK_THAT(err(R"({"model_type": "minimax", "hidden_size": 64, "num_attention_heads": 4,
    "num_hidden_layers": 2, "intermediate_size": 8, "num_local_experts": 2, "num_experts_per_tok": 1})"),
             Catch::Contains("needs attn_type_list or layer_types"));
}

TEST_CASE("hf config: files and folders are read, malformed JSON is one clear line", "[attention]") {
  namespace fs = std::filesystem;
  const std::string dir = test::scratch_dir("hfconfig");
  { std::ofstream(fs::path(dir) / "config.json") << kStep3; }
  const ModelDesign m = read_hf_config(dir);
  CHECK(m.layers.size() == 61);
  const fs::path bad = fs::path(dir) / "bad.json";
  { std::ofstream(bad) << "{\"model_type\": \"llama\", "; }
  try {
    read_hf_config(bad.string());
    FAIL("no error");
  } catch (const InputError& e) {
    // The text ends inside the object: 24 bytes were read.
    CHECK_THAT(std::string(e.what()), Catch::EndsWith("bad.json: not valid JSON (truncated at byte 24)"));
  }
  // A number beyond double's range is a JSON error too, not a foreign exception.
  { std::ofstream(bad) << "{\"model_type\": \"llama\", \"hidden_size\": 1e999}"; }
  try {
    read_hf_config(bad.string());
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("bad.json: not valid JSON (number overflow parsing '1e999')"));
  }
  CHECK_THROWS_AS(read_hf_config((fs::path(dir) / "missing.json").string()), InputError);
  fs::remove_all(dir);
}

TEST_CASE("hf config: quantization_config and torch_dtype are kept as written", "[attention]") {
  // DeepSeek-V3 ships FP8 weights: capacity's default_weight_format maps this to fp8.
  const ModelDesign m = parse(kDeepSeekV3);
  CHECK(m.quant_method == "fp8");
  CHECK(m.quant_format.empty());
  json j = json::parse(kDeepSeekV3);
  j["quantization_config"] = {{"quant_method", "modelopt"}, {"quant_algo", "NVFP4"}};
  j["torch_dtype"] = "bfloat16";
  const ModelDesign n = model_from_hf_config(j, "nvfp4");
  CHECK(n.quant_method == "modelopt");
  CHECK(n.quant_format == "NVFP4");
  CHECK(n.torch_dtype == "bfloat16");
  j["quantization_config"] = "fp8";
  CHECK_THROWS_WITH(model_from_hf_config(j, "bad"), Catch::Contains("quantization_config' must be an object"));
  j["quantization_config"] = {{"quant_method", 8}};
  CHECK_THROWS_AS(model_from_hf_config(j, "bad"), InputError);
}

TEST_CASE("hf config: the KV dtype is the dtype vLLM serves the checkpoint in", "[attention]") {
  // vLLM's kv_cache_dtype "auto" follows the served dtype; its dtype "auto" keeps bfloat16 and
  // serves float16 and float32 checkpoints in fp16. Same 2 bytes for fp32, named as allocated.
  auto llama = [](const char* dtype) {
    return parse(std::string(R"({"model_type": "llama", "hidden_size": 256, "intermediate_size": 512,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000,
      "torch_dtype": ")") + dtype + "\"}");
  };
  CHECK(llama("bfloat16").layers[0].kv_dtype == DType::kBF16);
  CHECK(llama("float16").layers[0].kv_dtype == DType::kF16);
  CHECK(llama("float32").layers[0].kv_dtype == DType::kF16);
  // KV per token: 2 layers x (K + V) x 2 heads x 64 x 2 B = 1,024 B in every case.
  CHECK(attention_counts(llama("float32").layers[0].attention).cached_elements == 256);
}
