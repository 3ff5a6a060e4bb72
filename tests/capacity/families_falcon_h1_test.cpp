// Falcon-H1 (model_type falcon_h1): every decoder layer runs a GQA attention and a Mamba2 mixer
// side by side on one normalised input, then a SwiGLU MLP (docs/capacity.md, "Parallel mixers").
// gmha holds a layer as two entries, the attention with the FFN and a parallel Mamba2 entry.
// Sources of the configs, each beside its test; figures worked by hand in the comments.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "gmha/attention/hf_config.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/figures_json.hpp"
#include "gmha/core/error.hpp"
#include "support/hf_fixture.hpp"

using namespace gmha;
using gmha::test::exact_at;
using gmha::test::off_by;

namespace {
constexpr auto parse = gmha::test::parse_config;

// Falcon-H1-7B's architecture fields as two engines' sizing tests quote its config.json (one
// with vocab_size, intermediate_size and tie_word_embeddings, one from
// mlx-community/Falcon-H1-7B-Instruct-4bit), agreeing with the table of transformers' FalconH1
// docs (v5.0.0rc1: depth 44, dim 3072, 12 heads, 2 KV, 24 Mamba heads of 128, d_state 256).
const char* kFalconH1_7B = R"({"model_type": "falcon_h1", "hidden_size": 3072,
  "num_hidden_layers": 44, "num_attention_heads": 12, "num_key_value_heads": 2, "head_dim": 128,
  "intermediate_size": 12288, "vocab_size": 130048, "tie_word_embeddings": false,
  "attn_layer_indices": null, "mamba_d_state": 256, "mamba_n_groups": 1, "mamba_n_heads": 24,
  "mamba_d_head": 128, "mamba_d_ssm": 3072, "mamba_expand": 2, "mamba_d_conv": 4,
  "mamba_chunk_size": 128, "max_position_embeddings": 262144})";

// tiiuae/Falcon-H1-1.5B's fields as a public memory model's test fixture gives them (transformers'
// table: depth 24, dim 2048, 8 heads, 2 KV, 48 Mamba heads of 64, d_state 256).
const char* kFalconH1_1_5B = R"({"model_type": "falcon_h1", "num_hidden_layers": 24,
  "hidden_size": 2048, "intermediate_size": 4608, "num_attention_heads": 8,
  "num_key_value_heads": 2, "head_dim": 128, "vocab_size": 65537, "mamba_d_state": 256,
  "mamba_d_conv": 4, "mamba_n_groups": 1, "mamba_n_heads": 48, "mamba_d_head": 64,
  "mamba_d_ssm": 3072})";
}  // namespace

TEST_CASE("Falcon-H1 7B: attention and Mamba2 side by side in each of 44 layers", "[capacity]") {
  const ModelDesign m = parse(kFalconH1_7B);
  REQUIRE(m.layers.size() == 88);  // entries: attention + FFN, then its parallel Mamba2
  CHECK(m.decoder_layers() == 44);
  CHECK_FALSE(m.layers[0].parallel);
  CHECK(m.layers[1].parallel);
  CHECK(m.layers[1].attention.recurrent == RecurrentKind::kMamba2);
  CHECK(m.layers[1].ffn.kind == FfnKind::kNone);
  CHECK_FALSE(m.layers[1].attention.mamba_norm);  // mamba_rms_norm omitted: false

  const ModelFigures f = exact_at(m, 32768);
  CHECK(f.layers == 44);
  CHECK(f.cache_owning_layers == 44);
  // KV per token: 44 layers x 2 (K, V) x 2 KV heads x 128 x 2 B (bf16) = 45,056 B.
  CHECK(f.kv_bytes_per_token == 45056);
  // State per sequence, per layer: SSM 24 heads x 128 x 256 x 2 B = 1,572,864 B, conv 3 taps x
  // (I 3072 + 2 x 1 group x 256) x 2 B = 21,504 B; x 44 = 70,152,192 B.
  CHECK(f.state_bytes_per_sequence == 70152192);
  CHECK(f.kv_bytes == 45056.0 * 32768 + 70152192);               // 1,546,547,200
  CHECK(exact_at(m, 131072).kv_bytes == 45056.0 * 131072 + 70152192);  // 5,975,732,224

  // Parameters per layer: attention 3072 x (1536 + 2 x 256 + 1536) = 11,010,048; Mamba2 in_proj
  // 3072 x (2 x 3072 + 2 x 256 + 24) = 20,520,960, conv 3584 x 4 + 3584 bias, dt_bias/A_log/D
  // 3 x 24, out_proj 3072^2 = 9,437,184 (no gated norm): 29,976,136; MLP 3 x 3072 x 12288 =
  // 113,246,208; two norms 6,144. x 44 + final norm + untied embeddings 2 x 130048 x 3072.
  CHECK(f.total_params == 7585513568LL);
  CHECK(f.active_params_excl_input_embedding == 7585513568LL - 130048LL * 3072);
  // An independent published figure: mlx-community/Falcon-H1-7B-Instruct-4bit holds
  // 4,268,832,515 B of weights (as a sizing tool's test records). mlx stores every Linear and
  // the embeddings at 4 bits + a bf16 scale and bias per 64 (4.5 bits) and the rest in bf16; the
  // Linear and embedding weights worked by hand: 44 x (11,010,048 + 20,520,960 + 9,437,184 +
  // 113,246,208) + 2 x 130048 x 3072.
  const double linear = 44.0 * (11010048 + 20520960 + 9437184 + 113246208) + 2.0 * 130048 * 3072;
  const double mlx_bytes = linear * 4.5 / 8 + (static_cast<double>(f.total_params) - linear) * 2;
  CHECK(off_by(mlx_bytes, 4268832515.0) < 0.0002);
  // The family calls it "7B"; the count is the Hub's 7.59B.
  CHECK(off_by(static_cast<double>(f.total_params), 7.59e9) < 0.001);

  // One kind per mixer, both over layers 0-43; the Mamba2 kind says it runs in parallel.
  REQUIRE(f.kinds.size() == 2);
  CHECK(f.kinds[0].layer_list == "0-43");
  CHECK(f.kinds[1].layer_list == "0-43");
  CHECK_THAT(f.kinds[1].label, Catch::Contains("Mamba2") && Catch::Contains("parallel"));
  const nlohmann::json j = figures_to_json(f, nullptr, Convention::kExact);
  CHECK(j.at("layers") == 44);
  CHECK(j.at("layer_kinds").at(0).at("parallel") == false);
  CHECK(j.at("layer_kinds").at(1).at("parallel") == true);
  CHECK(j.at("layer_kinds").at(1).at("mixer") == "Mamba2");
}

TEST_CASE("Falcon-H1 1.5B: 24 layers, 48 Mamba2 heads of 64", "[capacity]") {
  const ModelFigures f = exact_at(parse(kFalconH1_1_5B), 32768);
  // KV: 24 x 2 x 2 x 128 x 2 B = 24,576 B/token. State: 24 x (48 x 64 x 256 x 2 B + 3 x (3072 +
  // 512) x 2 B) = 24 x (1,572,864 + 21,504) = 38,264,832 B.
  CHECK(f.kv_bytes_per_token == 24576);
  CHECK(f.state_bytes_per_sequence == 38264832);
  CHECK(f.kv_bytes == 24576.0 * 32768 + 38264832);                     // 843,571,200
  CHECK(exact_at(parse(kFalconH1_1_5B), 131072).kv_bytes == 24576.0 * 131072 + 38264832);
  // Per layer: attention 2048 x (1024 + 256 + 256 + 1024) = 5,242,880; Mamba2 2048 x (6144 + 512
  // + 48) + 3584 x 5 + 144 + 3072 x 2048 = 20,039,312; MLP 3 x 2048 x 4608 = 28,311,552; norms
  // 4,096: 53,597,840 x 24 + 2048 + 2 x 65537 x 2048 = 1,554,789,760. Released as "1.5B" (1.55B).
  CHECK(f.total_params == 1554789760LL);
  CHECK(off_by(static_cast<double>(f.total_params), 1.55e9) < 0.005);
}

TEST_CASE("Falcon-H1 0.5B as Megatron-Bridge's test copies its config", "[capacity]") {
  // tests/capacity/fixtures/falcon-h1-0_5b.megatron-bridge.config.json: FALCON_H1_500M_CONFIG of
  // NVIDIA-NeMo/Megatron-Bridge tests/unit_tests/models/falcon_h1/test_falcon_h1_bridge.py
  // (acc8ca4), as JSON. It omits mamba_d_ssm, so FalconH1Config's 1024 applies, which is not 24
  // heads x 64: transformers refuses it and so does gmha, naming the fields.
  nlohmann::json c = gmha::test::read_fixture("falcon-h1-0_5b.megatron-bridge.config.json");
  CHECK_THROWS_AS(model_from_hf_config(c, "config.json"), InputError);
  CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"),
                    Catch::Contains("mamba_d_ssm = 1024") && Catch::Contains("default"));
  // With the width Megatron-Bridge's exporter writes (mamba_d_ssm = heads x head_dim = 1536; the
  // released 0.5B's conv state is 1536 + 2 x 128 = 1792 wide):
  c["mamba_d_ssm"] = 1536;
  const ModelDesign m = model_from_hf_config(c, "config.json");
  const ModelFigures f = exact_at(m, 32768);
  // KV: 36 x 2 x 2 x 64 x 2 B = 18,432 B/token. State: 36 x (24 x 64 x 128 x 2 B + 3 x 1792 x
  // 2 B) = 36 x (393,216 + 10,752) = 14,542,848 B.
  CHECK(f.kv_bytes_per_token == 18432);
  CHECK(f.state_bytes_per_sequence == 14542848);
  CHECK(f.kv_bytes == 18432.0 * 32768 + 14542848);                   // 618,522,624
  CHECK(exact_at(m, 131072).kv_bytes == 18432.0 * 131072 + 14542848);  // 2,430,461,952
  // Per layer: attention 1024 x 1280 = 1,310,720; Mamba2 1024 x 3352 + 1664 x 5 + 72 + 1536 x
  // 1024 = 5,014,344; MLP 6,291,456; norms 2,048. x 36 + 1024 + 2 x 32784 x 1024 = 521,411,104
  // (released as "0.5B").
  CHECK(f.total_params == 521411104LL);
}

TEST_CASE("Falcon-H1: FalconH1Config's defaults and what fails closed", "[capacity]") {
  nlohmann::json c = nlohmann::json::parse(kFalconH1_7B);
  const int64_t base = exact_at(parse(kFalconH1_7B), 4096).total_params;
  SECTION("mamba_rms_norm adds the gated norm over I in each layer") {
    c["mamba_rms_norm"] = true;
    CHECK(exact_at(model_from_hf_config(c, "config.json"), 4096).total_params == base + 44 * 3072);
  }
  SECTION("a null num_key_value_heads is the query heads; an omitted one the class's 8") {
    c["num_key_value_heads"] = nullptr;
    CHECK(model_from_hf_config(c, "config.json").layers[0].attention.kv_heads == 12);
    c.erase("num_key_value_heads");
    c["num_attention_heads"] = 16;
    CHECK(model_from_hf_config(c, "config.json").layers[0].attention.kv_heads == 8);
  }
  SECTION("mamba_d_head \"auto\" is mamba_d_ssm / mamba_n_heads; null mamba_d_ssm is expand x d") {
    c["mamba_d_head"] = "auto";
    c["mamba_d_ssm"] = nullptr;  // 2 x 3072 = 6144 wide, 24 heads of 256
    const ModelDesign m = model_from_hf_config(c, "config.json");
    CHECK(m.layers[1].attention.inner == 6144);
    CHECK(m.layers[1].attention.head_dim == 256);
    c["mamba_d_head"] = "wide";
    CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("mamba_d_head"));
  }
  SECTION("keys that change the architecture") {
    c["attn_layer_indices"] = {0, 2};
    CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("attn_layer_indices"));
    c.erase("attn_layer_indices");
    c["mamba_use_mlp"] = false;
    CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("mamba_use_mlp"));
    c.erase("mamba_use_mlp");
    c["projectors_bias"] = true;
    CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("projectors_bias"));
    c.erase("projectors_bias");
    c["layers_block_type"] = {"attention", "mamba"};
    CHECK_THROWS_WITH(model_from_hf_config(c, "config.json"), Catch::Contains("layers_block_type[1]"));
  }
}
