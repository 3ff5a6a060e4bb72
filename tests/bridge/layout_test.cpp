// The layout detector: per-layer kind, shape and factor tensor names for the GQA family (with
// biases), MLA (with and without query compression), MFA (Step-3 names, nested language-model
// prefix) and MFA-KR; missing or mis-shaped factors refused with one exact line; and the
// real stories260K model detected identically from all four copies.
#include <map>

#include <catch2/catch.hpp>

#include "checkpoint/fixture_writer.hpp"
#include "gmha/bridge/layout.hpp"
#include "gmha/core/error.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using namespace gmha::test;

namespace {

// A safetensors folder holding zero F32 tensors of the given shapes, and a config.json.
std::string write_model(const std::string& tag, const nlohmann::json& config,
                        const std::map<std::string, std::vector<int64_t>>& shapes) {
  const std::string dir = scratch_dir(tag);
  std::vector<RawTensor> ts;
  for (const auto& [name, shape] : shapes) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    ts.push_back({name, "F32", shape, std::string(static_cast<size_t>(4 * n), '\0')});
  }
  write_bytes(dir + "/model.safetensors", safetensors_bytes(ts));
  write_bytes(dir + "/config.json", config.dump());
  return dir;
}

// Per-layer attention tensors of a layer, under "<prefix>layers.<i>.self_attn.".
void add_layer(std::map<std::string, std::vector<int64_t>>& m, const std::string& prefix, int i,
               const std::map<std::string, std::vector<int64_t>>& attn) {
  for (const auto& [k, v] : attn) m[prefix + "layers." + std::to_string(i) + ".self_attn." + k] = v;
  m[prefix + "layers." + std::to_string(i) + ".input_layernorm.weight"] = {16};
}

}  // namespace

TEST_CASE("layout: GQA family with Qwen2 biases names every factor", "[checkpoint][layout]") {
  nlohmann::json cfg = {{"model_type", "qwen2"},       {"hidden_size", 16},
                        {"intermediate_size", 32},     {"num_hidden_layers", 2},
                        {"num_attention_heads", 4},    {"num_key_value_heads", 2},
                        {"vocab_size", 10},            {"rms_norm_eps", 1e-6},
                        {"rope_theta", 1e6}};
  std::map<std::string, std::vector<int64_t>> t;
  for (int i = 0; i < 2; ++i)
    add_layer(t, "model.", i,
              {{"q_proj.weight", {16, 16}}, {"k_proj.weight", {8, 16}}, {"v_proj.weight", {8, 16}},
               {"o_proj.weight", {16, 16}}, {"q_proj.bias", {16}}, {"k_proj.bias", {8}},
               {"v_proj.bias", {8}}});
  const Layout l = detect_layout(open_checkpoint(write_model("lay-gqa", cfg, t)));
  REQUIRE(l.layers.size() == 2);
  CHECK(l.architecture == "qwen2");
  CHECK(l.rope_theta == 1e6);
  CHECK(l.rms_norm_eps == 1e-6);
  const LayerLayout& x = l.layers[1];
  CHECK(x.kind == LayoutKind::kGqa);
  CHECK(x.shape.heads == 4);
  CHECK(x.shape.kv_heads == 2);
  CHECK(x.shape.head_dim == 4);
  CHECK(x.q_proj == "model.layers.1.self_attn.q_proj.weight");
  CHECK(x.v_bias == "model.layers.1.self_attn.v_proj.bias");
  CHECK(x.input_layernorm == "model.layers.1.input_layernorm.weight");
  CHECK(x.q_a_proj.empty());

  // Qwen2 always has biases: without them the layout is refused, naming the tensor.
  t.erase("model.layers.0.self_attn.k_proj.bias");
  const std::string dir = write_model("lay-gqa-nobias", cfg, t);
  CHECK_THROWS_WITH(detect_layout(open_checkpoint(dir)),
                    dir + ": layer 0: missing tensor 'model.layers.0.self_attn.k_proj.bias' "
                          "(gqa layout)");
}

TEST_CASE("layout: MLA with and without query compression", "[checkpoint][layout]") {
  // d 16, 2 heads, q_lora 8, C 4, nope 4, rope 2, v 3.
  nlohmann::json cfg = {{"model_type", "deepseek_v3"}, {"hidden_size", 16},
                        {"intermediate_size", 32},     {"num_hidden_layers", 1},
                        {"num_attention_heads", 2},    {"num_key_value_heads", 2},
                        {"q_lora_rank", 8},            {"kv_lora_rank", 4},
                        {"qk_nope_head_dim", 4},       {"qk_rope_head_dim", 2},
                        {"v_head_dim", 3},             {"vocab_size", 10}};
  std::map<std::string, std::vector<int64_t>> t;
  add_layer(t, "model.", 0,
            {{"q_a_proj.weight", {8, 16}}, {"q_a_layernorm.weight", {8}},
             {"q_b_proj.weight", {12, 8}}, {"kv_a_proj_with_mqa.weight", {6, 16}},
             {"kv_a_layernorm.weight", {4}}, {"kv_b_proj.weight", {14, 4}},
             {"o_proj.weight", {16, 6}}});
  const Layout l = detect_layout(open_checkpoint(write_model("lay-mla", cfg, t)));
  const LayerLayout& x = l.layers.at(0);
  CHECK(x.kind == LayoutKind::kMla);
  CHECK(x.shape.kv_lora_rank == 4);
  CHECK(x.q_b_proj == "model.layers.0.self_attn.q_b_proj.weight");
  CHECK(x.kv_b_proj == "model.layers.0.self_attn.kv_b_proj.weight");
  CHECK(x.q_proj.empty());

  cfg["q_lora_rank"] = nullptr;  // DeepSeek-V2-Lite style: plain q_proj
  std::map<std::string, std::vector<int64_t>> t2;
  add_layer(t2, "model.", 0,
            {{"q_proj.weight", {12, 16}}, {"kv_a_proj_with_mqa.weight", {6, 16}},
             {"kv_a_layernorm.weight", {4}}, {"kv_b_proj.weight", {14, 4}},
             {"o_proj.weight", {16, 6}}});
  const Layout l2 = detect_layout(open_checkpoint(write_model("lay-mla-noq", cfg, t2)));
  CHECK(l2.layers.at(0).q_proj == "model.layers.0.self_attn.q_proj.weight");
  CHECK(l2.layers.at(0).q_a_proj.empty());

  // kv_b_proj with the wrong width is named with both shapes.
  t2["model.layers.0.self_attn.kv_b_proj.weight"] = {14, 5};
  const std::string dir = write_model("lay-mla-bad", cfg, t2);
  CHECK_THROWS_WITH(detect_layout(open_checkpoint(dir)),
                    dir + ": layer 0: tensor 'model.layers.0.self_attn.kv_b_proj.weight' has "
                          "shape [14, 5], the config implies [14, 4]");
}

TEST_CASE("layout: MFA (Step-3 names, nested prefix) and MFA-KR", "[checkpoint][layout]") {
  // d 16, m 2 heads, C 4, C_q 6.
  nlohmann::json cfg = {{"model_type", "step3_vl"},
                        {"text_config",
                         {{"model_type", "step3_text"},
                          {"hidden_size", 16},
                          {"intermediate_size", 32},
                          {"num_hidden_layers", 1},
                          {"num_attention_heads", 2},
                          {"num_attention_groups", 1},
                          {"head_dim", 4},
                          {"share_q_dim", 6},
                          {"vocab_size", 10}}}};
  std::map<std::string, std::vector<int64_t>> mfa = {
      {"q_proj.weight", {6, 16}}, {"inter_norm.weight", {6}}, {"wq.weight", {8, 6}},
      {"k_proj.weight", {4, 16}}, {"v_proj.weight", {4, 16}}, {"o_proj.weight", {16, 8}}};
  std::map<std::string, std::vector<int64_t>> t;
  add_layer(t, "model.language_model.", 0, mfa);
  t["vision_model.encoder.layers.0.self_attn.q_proj.weight"] = {3, 3};  // not the decoder
  const Layout l = detect_layout(open_checkpoint(write_model("lay-mfa", cfg, t)));
  const LayerLayout& x = l.layers.at(0);
  CHECK(x.kind == LayoutKind::kMfa);
  CHECK(x.shape.q_share_dim == 6);
  CHECK(x.wq == "model.language_model.layers.0.self_attn.wq.weight");
  CHECK(x.inter_norm == "model.language_model.layers.0.self_attn.inter_norm.weight");
  CHECK(x.v_proj == "model.language_model.layers.0.self_attn.v_proj.weight");
  CHECK(capacity_ranks(x.shape).frh == 4);

  // MFA-KR: no v_proj, the key-reuse pair instead (gmha's names, docs/formats.md).
  mfa.erase("v_proj.weight");
  mfa["kr_n.weight"] = {4, 4};
  mfa["kr_alpha"] = {4};
  std::map<std::string, std::vector<int64_t>> t2;
  add_layer(t2, "model.", 0, mfa);
  const Layout l2 = detect_layout(open_checkpoint(write_model("lay-mfakr", cfg, t2)));
  CHECK(l2.layers.at(0).kind == LayoutKind::kMfaKr);
  CHECK(l2.layers.at(0).shape.variant == Variant::kMfaKr);
  CHECK(l2.layers.at(0).kr_alpha == "model.layers.0.self_attn.kr_alpha");
  CHECK(l2.layers.at(0).v_proj.empty());
  CHECK(layout_kind_name(l2.layers.at(0).kind) == "mfa-kr");
}

TEST_CASE("layout: a GGUF architecture without a mapping is refused by name",
          "[checkpoint][layout]") {
  const std::string dir = scratch_dir("lay-gguf");
  GgufBuilder b;
  b.add_string("general.architecture", "gpt2");
  b.add_tensor("x", {4}, 0, f32_bytes({1, 2, 3, 4}));
  write_bytes(dir + "/m.gguf", b.bytes());
  const Checkpoint c = open_checkpoint(dir + "/m.gguf");
  CHECK(c.tensors->find("x") != nullptr);  // still listed
  CHECK_THROWS_WITH(detect_layout(c),
                    dir + "/m.gguf: GGUF architecture 'gpt2' is not supported for layout "
                          "detection (llama, mistral, qwen2, qwen3, qwen2moe, qwen3moe, gemma3)");
}

TEST_CASE("layout: stories260K is GQA 8/4/8 in every copy", "[checkpoint][layout][data]") {
  auto f32 = shared_data("stories260K-hf-f32");
  auto bf16 = shared_data("stories260K-hf-bf16");
  auto gguf = shared_data("stories260K-gguf");
  auto l2c = shared_data("stories260K-llama2c");
  if (!f32 || !bf16 || !gguf || !l2c) {
    gmha::test::skip_missing("../shared/data/stories260K-* not found; skipping");
    return;
  }
  for (const std::string& p : {*f32, *bf16, *gguf + "/stories260K.gguf", *l2c + "/stories260K.bin"}) {
    INFO(p);
    const Layout l = detect_layout(open_checkpoint(p));
    REQUIRE(l.layers.size() == 5);
    for (const auto& x : l.layers) {
      CHECK(x.kind == LayoutKind::kGqa);
      CHECK(x.shape.d_model == 64);
      CHECK(x.shape.heads == 8);
      CHECK(x.shape.kv_heads == 4);
      CHECK(x.shape.head_dim == 8);
      const CapacityRanks r = capacity_ranks(x.shape);
      CHECK(r.frh == 8);
      CHECK(r.slsd == 32);
      CHECK(r.ter == 64);
    }
    CHECK(l.layers[4].o_proj == "model.layers.4.self_attn.o_proj.weight");
    CHECK(l.rms_norm_eps == Approx(1e-5).epsilon(1e-6));
  }
}
