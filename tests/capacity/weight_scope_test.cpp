// Mixed weight formats: a checkpoint's quantization_config stores only some parts in its format
// (gpt-oss's MXFP4 experts, Kimi K2.5's INT4 routed experts, DeepSeek's FP8 Linear layers) and
// the rest in the model dtype (docs/capacity.md, "Mixed weight formats"). Known answers: the
// checkpoint sizes of OpenAI's gpt-oss model card, and byte counts worked by hand.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "gmha/attention/hf_config.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/fit.hpp"
#include "gmha/capacity/serving.hpp"
#include "gmha/capacity/weight_format.hpp"
#include "gmha/core/error.hpp"
#include "support/hf_fixture.hpp"

using namespace gmha;
using gmha::test::off_by;
using gmha::test::parse_config;

namespace {

// The bytes one device stores for the whole model (TP 1) in the model's own formats.
double model_bytes(const ModelDesign& m) { return shard_weights(m, 1, weights_of(m, ""), "tp").total; }
double total_params(const ModelDesign& m) {
  return static_cast<double>(compute_figures(m, {1, 1, Convention::kExact}).total_params);
}
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
const double kMxfp4 = 4.0 + 8.0 / 32.0;  // E2M1 + one E8M0 per 32

// openai/gpt-oss-20b config.json, as tinygrad's test_gpt_oss.py copies it (TORCH_PARAMS["20B"]).
const char* kGptOss20b = R"({
  "architectures": ["GptOssForCausalLM"], "attention_bias": true, "attention_dropout": 0.0,
  "eos_token_id": 200002, "experts_per_token": 4, "head_dim": 64, "hidden_act": "silu",
  "hidden_size": 2880, "initial_context_length": 4096, "initializer_range": 0.02,
  "intermediate_size": 2880, "layer_types": [
    "sliding_attention", "full_attention", "sliding_attention", "full_attention", "sliding_attention",
    "full_attention", "sliding_attention", "full_attention", "sliding_attention", "full_attention",
    "sliding_attention", "full_attention", "sliding_attention", "full_attention", "sliding_attention",
    "full_attention", "sliding_attention", "full_attention", "sliding_attention", "full_attention",
    "sliding_attention", "full_attention", "sliding_attention", "full_attention"],
  "max_position_embeddings": 131072, "model_type": "gpt_oss", "num_attention_heads": 64,
  "num_experts_per_tok": 4, "num_hidden_layers": 24, "num_key_value_heads": 8,
  "num_local_experts": 32, "output_router_logits": false, "pad_token_id": 199999,
  "quantization_config": {"modules_to_not_convert": ["model.layers.*.self_attn",
    "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"], "quant_method": "mxfp4"},
  "rms_norm_eps": 1e-05, "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0,
    "original_max_position_embeddings": 4096, "rope_type": "yarn", "truncate": false},
  "rope_theta": 150000, "router_aux_loss_coef": 0.9, "sliding_window": 128, "swiglu_limit": 7.0,
  "tie_word_embeddings": false, "transformers_version": "4.57.0", "use_cache": true,
  "vocab_size": 201088})";

}  // namespace

TEST_CASE("gpt-oss stores its experts in MXFP4 and the rest in bf16: the model card's checkpoint sizes") {
  // OpenAI, "gpt-oss-120b & gpt-oss-20b Model Card" (2025), Table 1: checkpoint 60.8 GiB and
  // 12.8 GiB. Routed experts: L x E x 3 x 2880 x 2880 (gate, up, down), the only MXFP4 tensors.
  const ModelDesign big = read_preset("gpt-oss-120b");
  const ModelDesign small = parse_config(kGptOss20b);
  const WeightFormat w = weights_of(big, "");
  CHECK(w.name == "mxfp4");
  CHECK(w.label() == "mxfp4 on routed experts, bf16 elsewhere");
  struct Case {
    const ModelDesign* m;
    double layers, experts, card_gib;
  };
  for (const Case& c : {Case{&big, 36, 128, 60.8}, Case{&small, 24, 32, 12.8}}) {
    const double routed = c.layers * c.experts * 3 * 2880.0 * 2880.0;  // 114,661,785,600 for 120b
    const double expected = routed * kMxfp4 / 8 + (total_params(*c.m) - routed) * 2;
    CHECK(model_bytes(*c.m) == Approx(expected).epsilon(1e-12));
    // Within 0.5 % of the card (gmha counts no expert biases); charging every weight at MXFP4
    // (the old rule) was 5 % low on 120b.
    CHECK(off_by(model_bytes(*c.m) / kGiB, c.card_gib) < 0.005);
  }
  CHECK(off_by(total_params(big) * kMxfp4 / 8 / kGiB, 60.8) > 0.04);
}

TEST_CASE("Kimi K2.5's INT4 W4A16: routed experts of layers 1-60 at 4.5 bits, everything else bf16") {
  // quantization_config (moonshotai/Kimi-K2.5 text_config): int4, symmetric, one bf16 scale per
  // group of 32 -> 4 + 16/32 = 4.5 bits; ignore: self_attn, shared_experts, the dense MLP of
  // layer 0 (mlp.gate_proj / up_proj / down_proj), lm_head. Routed: 60 x 384 x 3 x 7168 x 2048.
  const ModelDesign m = read_preset("kimi-k2.5");
  const WeightFormat w = weights_of(m, "");
  CHECK(w.name == "int4-g32");
  CHECK(w.bits_per_weight == 4.5);
  CHECK(w.label() == "int4-g32 on routed experts, bf16 elsewhere");
  const double routed = 1014686023680.0;
  CHECK(routed == 60.0 * 384 * 3 * 7168 * 2048);
  CHECK(model_bytes(m) == Approx(routed * 4.5 / 8 + (total_params(m) - routed) * 2).epsilon(1e-12));
  // The parts: attention, the dense FFN of layer 0, shared experts and the head stay bf16.
  CHECK(w.bits_of(WeightPart::kRoutedExperts, 1) == 4.5);
  CHECK(w.bits_of(WeightPart::kRoutedExperts, 60) == 4.5);
  CHECK(w.bits_of(WeightPart::kAttention, 1) == 16);
  CHECK(w.bits_of(WeightPart::kDenseFfn, 0) == 16);
  CHECK(w.bits_of(WeightPart::kSharedExperts, 7) == 16);
  CHECK(w.bits_of(WeightPart::kOutputHead, -1) == 16);
  // Charging the whole model at GPTQ's int4 (4 + 20/128), as before, was 9 % below.
  CHECK(off_by(total_params(m) * (4 + 20.0 / 128) / 8, model_bytes(m)) > 0.05);

  SECTION("an exclusion naming one layer leaves that layer's experts in bf16") {
    WeightFormat one = w;
    one.not_converted.push_back(R"(re:model\.layers\.1\.mlp\.experts\..*)");
    CHECK(one.bits_of(WeightPart::kRoutedExperts, 1) == 16);
    CHECK(one.bits_of(WeightPart::kRoutedExperts, 10) == 4.5);
    const double per_layer = routed / 60;
    const double grown = shard_weights(m, 1, one, "tp").total - model_bytes(m);
    CHECK(grown == Approx(per_layer * (16 - 4.5) / 8).epsilon(1e-12));
  }
}

TEST_CASE("DeepSeek-V3's FP8 blocks cover every decoder Linear: embeddings, head and router stay bf16") {
  const ModelDesign m = read_preset("deepseek-v3");
  const WeightFormat mixed = weights_of(m, "");
  const WeightFormat uniform = read_weight_format("fp8", "--weight-dtype");
  CHECK(uniform.uniform());
  CHECK(uniform.label() == "fp8");
  // The difference from all-FP8: the two 129280 x 7168 tables, 58 MoE routers 7168 x 256 and the
  // RMSNorms, each at 16 bits instead of 8 + 32/16384.
  const double kept = 2.0 * 129280 * 7168 + 58.0 * 7168 * 256 + static_cast<double>(norm_params(m));
  CHECK(kept == 1853358080.0 + 106430464.0 + static_cast<double>(norm_params(m)));
  const double diff = shard_weights(m, 1, mixed, "tp").total - shard_weights(m, 1, uniform, "tp").total;
  CHECK(diff == Approx(kept * (16 - uniform.bits_per_weight) / 8).epsilon(1e-9));
}

TEST_CASE("Exclusions match Hugging Face module names as each writer means them") {
  using P = WeightPart;
  // compressed-tensors: "re:" is Python's re.match, anchored at the start.
  CHECK(weight_part_excluded({"re:.*self_attn.*"}, P::kAttention, 3));
  CHECK_FALSE(weight_part_excluded({"re:self_attn.*"}, P::kAttention, 3));
  const std::string dense = R"(re:.*mlp\.(gate|up|gate_up|down)_proj.*)";
  CHECK(weight_part_excluded({dense}, P::kDenseFfn, 0));
  CHECK_FALSE(weight_part_excluded({dense}, P::kRoutedExperts, 1));
  CHECK(weight_part_excluded({"re:.*shared_experts.*"}, P::kSharedExperts, 1));
  // transformers' modules_to_not_convert: globs over whole dotted components.
  CHECK(weight_part_excluded({"model.layers.*.self_attn"}, P::kAttention, 35));
  CHECK(weight_part_excluded({"lm_head"}, P::kOutputHead, -1));
  CHECK(weight_part_excluded({"shared_expert"}, P::kSharedExperts, 2));  // Qwen's spelling
  CHECK_FALSE(weight_part_excluded({"gate"}, P::kDenseFfn, 0));  // not "gate_proj"
  CHECK_FALSE(weight_part_excluded({"model.embed_tokens", "model.layers.*.mlp.router"}, P::kRoutedExperts, 0));
  CHECK_THROWS_AS(weight_part_excluded({"re:(unclosed"}, P::kAttention, 0), InputError);
}

TEST_CASE("GPTQ and AWQ configs price their group scales and zero points") {
  const char* base = R"({"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "vocab_size": 128256, "max_position_embeddings": 8192, "torch_dtype": "float16"})";
  nlohmann::json j = nlohmann::json::parse(base);
  // GPTQ, symmetric, group 128: 4 + 16/128; its head stays fp16 unless "lm_head": true.
  j["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 4}, {"group_size", 128}, {"sym", true}};
  ModelDesign m = model_from_hf_config(j, "config.json");
  WeightFormat w = weights_of(m, "");
  CHECK(w.name == "int4-g128");
  CHECK(w.bits_per_weight == 4.125);
  CHECK(w.rest_name == "fp16");
  CHECK(w.bits_of(WeightPart::kOutputHead, -1) == 16);
  j["quantization_config"]["lm_head"] = true;
  CHECK(weights_of(model_from_hf_config(j, "config.json"), "").bits_of(WeightPart::kOutputHead, -1) == 4.125);
  // AWQ with zero points (its default): + a 4-bit zero per group of 128.
  j["quantization_config"] = {{"quant_method", "awq"}, {"bits", 4}, {"group_size", 128}};
  CHECK(weights_of(model_from_hf_config(j, "config.json"), "").bits_per_weight == 4 + 20.0 / 128);
  // compressed-tensors groups that disagree are refused, naming the fix.
  j["quantization_config"] = nlohmann::json::parse(R"({"quant_method": "compressed-tensors",
    "format": "pack-quantized", "config_groups": {
      "a": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 32, "type": "int", "symmetric": true}},
      "b": {"targets": ["Linear"], "weights": {"num_bits": 8, "group_size": 32, "type": "int", "symmetric": true}}}})");
  m = model_from_hf_config(j, "config.json");
  CHECK_THROWS_WITH(weights_of(m, ""), Catch::Contains("--weight-dtype"));
  // A malformed list is a one-line error naming the field.
  j["quantization_config"] = {{"quant_method", "awq"}, {"modules_to_not_convert", "lm_head"}};
  CHECK_THROWS_WITH(model_from_hf_config(j, "config.json"), Catch::Contains("modules_to_not_convert"));
}
