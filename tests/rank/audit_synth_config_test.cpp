// The audit of `gmha synth --config` folders: a family's own config.json planted layer by layer
// (bridge/synth_model.hpp), read back through that config, every planted rank recovered.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "gmha/attention/hf_config.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/bridge/layout.hpp"
#include "gmha/bridge/synth_model.hpp"
#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/rank/audit.hpp"
#include "support/input_error.hpp"
#include "support/test_paths.hpp"

using namespace gmha;

namespace {

// Writes `config` planted (QK rank 3, VO rank 2, recurrent q 5 / k 4) and audits it through the
// config.json written beside the weights.
AuditReport plant_and_audit(const char* config, const std::string& name, Layout* layout = nullptr) {
  const nlohmann::json j = nlohmann::json::parse(config);
  const std::string type = j.contains("text_config") ? j["text_config"].value("model_type", "") : j.value("model_type", "");
  SynthOptions o = synth_options_for_model(model_from_hf_config(j, name), type);
  o.config = nlohmann::ordered_json::parse(j.dump());
  o.dtype = "F32";
  o.seed = 3;
  o.qk_rank = parse_rank_pattern("3", "--qk-rank");
  o.vo_rank = parse_rank_pattern("2", "--vo-rank");
  o.recurrent_q_rank = parse_rank_pattern("5", "q");
  o.recurrent_k_rank = parse_rank_pattern("4", "k");
  const std::string dir = test::scratch_dir(name);
  write_synth_checkpoint(dir, o);
  const Checkpoint ck = open_checkpoint(dir);
  CHECK(ck.config["model_type"] == j["model_type"]);  // the family's own config.json
  const Layout lay = detect_layout(ck);
  if (layout) *layout = lay;
  return audit_checkpoint(ck, lay, {});
}

void check_softmax(const LayerAudit& l, size_t heads) {
  CHECK(l.audited);
  REQUIRE(l.heads.size() == heads);
  for (const auto& h : l.heads) {
    CHECK(h.qk.metrics.numerical_rank == 3);
    CHECK(h.vo.metrics.numerical_rank == 2);
  }
}

void check_recurrent(const LayerAudit& l, size_t heads, const char* mixer) {
  CHECK_FALSE(l.audited);
  CHECK(l.mixer == mixer);
  REQUIRE(l.recurrent_q.size() == heads);
  for (size_t i = 0; i < heads; ++i) {
    CHECK(l.recurrent_q[i].metrics.numerical_rank == 5);
    CHECK(l.recurrent_k[i].metrics.numerical_rank == 4);
  }
}

}  // namespace

TEST_CASE("synth --config: Qwen3.5's Gated DeltaNet and gated, q/k-normed attention", "[rank]") {
  // Qwen3.5-0.8B's fields at d = 96: layer 0 Gated DeltaNet (2 key heads of 16, 4 value heads of
  // 8: in_proj_qkv), layer 1 gated attention 4/2 x 16 with per-head q/k norms.
  const char* kQwen35 = R"({"architectures": ["Qwen3_5ForConditionalGeneration"], "model_type": "qwen3_5",
    "text_config": {"model_type": "qwen3_5_text", "attn_output_gate": true, "head_dim": 16,
      "hidden_size": 96, "intermediate_size": 128, "layer_types": ["linear_attention", "full_attention"],
      "linear_conv_kernel_dim": 4, "linear_key_head_dim": 16, "linear_num_key_heads": 2,
      "linear_num_value_heads": 4, "linear_value_head_dim": 8, "num_attention_heads": 4,
      "num_hidden_layers": 2, "num_key_value_heads": 2, "vocab_size": 100, "tie_word_embeddings": true}})";
  Layout lay;
  const AuditReport r = plant_and_audit(kQwen35, "synth-config-qwen35", &lay);
  REQUIRE(r.layers.size() == 2);
  CHECK(lay.layers[0].q_proj == "model.layers.0.linear_attn.in_proj_qkv.weight");
  CHECK(lay.layers[1].q_proj_gated);
  check_recurrent(r.layers[0], 2, "GatedDeltaNet");
  check_softmax(r.layers[1], 4);
}

TEST_CASE("synth --config: Qwen3-Next's in_proj_qkvz, Nemotron-H's MLP blocks, MiniMax's lightning", "[rank]") {
  const char* kQwen3Next = R"({"model_type": "qwen3_next", "head_dim": 16, "hidden_size": 96,
    "intermediate_size": 128, "moe_intermediate_size": 32, "num_experts": 4, "num_experts_per_tok": 2,
    "shared_expert_intermediate_size": 32, "layer_types": ["linear_attention", "full_attention"],
    "linear_conv_kernel_dim": 4, "linear_key_head_dim": 16, "linear_num_key_heads": 2,
    "linear_num_value_heads": 4, "linear_value_head_dim": 8, "num_attention_heads": 4,
    "num_hidden_layers": 2, "num_key_value_heads": 2, "vocab_size": 100})";
  Layout lay;
  AuditReport r = plant_and_audit(kQwen3Next, "synth-config-qwen3next", &lay);
  CHECK(lay.layers[0].q_proj == "model.layers.0.linear_attn.in_proj_qkvz.weight");
  check_recurrent(r.layers[0], 2, "GatedDeltaNet");
  check_softmax(r.layers[1], 4);

  // Nemotron-H "M*-": Mamba2 (2 groups of d_state 8), attention, an MLP block with no tensors.
  const char* kNemotronH = R"({"model_type": "nemotron_h", "architectures": ["NemotronHForCausalLM"],
    "hidden_size": 32, "num_hidden_layers": 3, "hybrid_override_pattern": "M*-",
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 64,
    "mamba_num_heads": 4, "mamba_head_dim": 8, "ssm_state_size": 8, "n_groups": 2, "conv_kernel": 4,
    "vocab_size": 100})";
  r = plant_and_audit(kNemotronH, "synth-config-nemotron-h", &lay);
  REQUIRE(r.layers.size() == 3);
  check_recurrent(r.layers[0], 2, "Mamba2");
  check_softmax(r.layers[1], 4);
  CHECK(r.layers[2].layout == "none");

  const char* kMiniMax = R"({"model_type": "minimax_m1", "architectures": ["MiniMaxM1ForCausalLM"],
    "hidden_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 16, "intermediate_size": 64, "num_local_experts": 4, "num_experts_per_tok": 2,
    "attn_type_list": [0, 1], "vocab_size": 100})";
  r = plant_and_audit(kMiniMax, "synth-config-minimax", &lay);
  check_recurrent(r.layers[0], 4, "Lightning");
  check_softmax(r.layers[1], 4);
}

TEST_CASE("synth --config: one-shape MLA and DeepSeek-V4 come back, and what synth cannot write is named", "[rank]") {
  const char* kDeepSeek = R"({"model_type": "deepseek_v3", "hidden_size": 96, "num_hidden_layers": 2,
    "num_attention_heads": 3, "num_key_value_heads": 3, "q_lora_rank": 32, "kv_lora_rank": 24,
    "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 16, "intermediate_size": 128,
    "moe_intermediate_size": 32, "n_routed_experts": 4, "num_experts_per_tok": 2, "first_k_dense_replace": 1,
    "vocab_size": 100})";
  const AuditReport r = plant_and_audit(kDeepSeek, "synth-config-deepseek");
  REQUIRE(r.layers.size() == 2);
  for (const auto& l : r.layers) check_softmax(l, 3);

  // DeepSeek-V4 (a window layer and an HCA layer): the grouped output LoRA in attn. names.
  const char* kV4 = R"({"model_type": "deepseek_v4", "hidden_size": 96, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16, "qk_rope_head_dim": 4,
    "q_lora_rank": 24, "o_lora_rank": 16, "o_groups": 2, "n_routed_experts": 4,
    "num_experts_per_tok": 2, "moe_intermediate_size": 32, "compress_ratios": [0, 128],
    "sliding_window": 8, "vocab_size": 100})";
  Layout lay;
  const AuditReport v4 = plant_and_audit(kV4, "synth-config-v4", &lay);
  CHECK(lay.layers[1].wo_a == "model.layers.1.attn.wo_a.weight");
  for (const auto& l : v4.layers) check_softmax(l, 4);

  // LFM2's short convolutions have no query or key to plant: refused by the writer, named.
  const char* kLfm2 = R"({"architectures": ["Lfm2ForCausalLM"], "model_type": "lfm2", "hidden_size": 64,
    "num_hidden_layers": 2, "full_attn_idxs": [1], "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 16, "intermediate_size": 128, "conv_L_cache": 3, "vocab_size": 100})";
  const nlohmann::json lf = nlohmann::json::parse(kLfm2);
  SynthOptions o = synth_options_for_model(model_from_hf_config(lf, "lfm2"), "lfm2");
  o.config = nlohmann::ordered_json::parse(lf.dump());
  CHECK_THAT(test::input_error_of([&] { synth_checkpoint_size(o); }),
             Catch::Contains("layer 0: only KDA, Gated DeltaNet, Mamba2, Mamba-1 and lightning"));
}

TEST_CASE("synth --config: Kimi-Linear's KDA beside MLA, Falcon-H1's two mixers of one layer", "[rank]") {
  // Kimi-Linear: layer 0 KDA (4 heads of d_k 16), layer 1 MLA without q_lora (its q_proj).
  const char* kKimi = R"({"architectures": ["KimiLinearForCausalLM"], "model_type": "kimi_linear",
    "hidden_size": 96, "head_dim": 16, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 4, "first_k_dense_replace": 2,
    "moe_intermediate_size": 32, "num_experts": 4, "num_experts_per_token": 2, "num_shared_experts": 1,
    "q_lora_rank": null, "kv_lora_rank": 32, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8,
    "v_head_dim": 16, "mla_use_nope": true, "vocab_size": 100,
    "linear_attn_config": {"full_attn_layers": [2], "kda_layers": [1], "head_dim": 16,
      "num_heads": 4, "short_conv_kernel_size": 4}})";
  Layout lay;
  AuditReport r = plant_and_audit(kKimi, "synth-config-kimi-linear", &lay);
  REQUIRE(r.layers.size() == 2);
  check_recurrent(r.layers[0], 4, "KDA");
  CHECK(lay.layers[1].kind == LayoutKind::kMla);
  CHECK(lay.layers[1].q_proj == "model.layers.1.self_attn.q_proj.weight");
  check_softmax(r.layers[1], 4);

  // Falcon-H1: each layer's attention (self_attn.) and Mamba2 (mamba., 2 groups) in layers.N.
  const char* kFalcon = R"({"model_type": "falcon_h1", "architectures": ["FalconH1ForCausalLM"],
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 8, "intermediate_size": 64, "vocab_size": 100, "mamba_d_ssm": 32, "mamba_n_heads": 4,
    "mamba_d_head": 8, "mamba_d_state": 8, "mamba_n_groups": 2, "mamba_d_conv": 4})";
  r = plant_and_audit(kFalcon, "synth-config-falcon-h1", &lay);
  REQUIRE(r.layers.size() == 4);
  for (int l = 0; l < 2; ++l) {
    const LayerAudit &attn = r.layers[static_cast<size_t>(2 * l)], &ssm = r.layers[static_cast<size_t>(2 * l + 1)];
    CHECK(attn.layer == l);
    CHECK(ssm.layer == l);
    CHECK(ssm.parallel);
    check_softmax(attn, 4);
    check_recurrent(ssm, 2, "Mamba2");
  }
  CHECK(lay.layers[3].q_proj == "model.layers.1.mamba.in_proj.weight");
}

TEST_CASE("synth --config: Gemma 3's q/k norms scale by 1 + w, read back as the family applies them", "[rank]") {
  // gemma3_text stores q_norm/k_norm weights w with γ = 1 + w (Gemma3RMSNorm): synth writes
  // w = 0, so a planted circuit keeps σ₁ = 1 only when the audit folds 1 + w (w alone would zero it).
  const char* kGemma3 = R"({"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text",
    "hidden_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 16, "intermediate_size": 128, "sliding_window": 8, "query_pre_attn_scalar": 16,
    "layer_types": ["sliding_attention", "full_attention"], "vocab_size": 100})";
  Layout lay;
  const AuditReport r = plant_and_audit(kGemma3, "synth-config-gemma3", &lay);
  REQUIRE(r.layers.size() == 2);
  CHECK(lay.layers[0].qk_norm_offset == 1.0);
  CHECK_FALSE(lay.layers[0].q_norm.empty());
  for (const auto& l : r.layers) {
    check_softmax(l, 4);
    for (const auto& h : l.heads) CHECK(h.qk.metrics.sigma_1 == Approx(1.0).epsilon(1e-6));
  }
  CHECK(qk_norm_offset("gemma3n_text") == 0.0);  // Gemma 3n and 4 multiply by w
  CHECK(qk_norm_offset("gemma4_text") == 0.0);
}

TEST_CASE("synth --config: every preset's stack can be planted, Llama-3-8B's attention bytes by hand", "[rank]") {
  // Sized, not written: each built-in model's layers (hybrids, V4's 8 x 1024 output groups over
  // d = 4096) get a writer. Llama-3-8B in BF16: 32 x (q 4096² + k, v 1024 x 4096 +
  // o 4096² + input norm 4096) x 2 B = 2,684,616,704 B.
  for (const auto& p : list_presets()) {
    INFO(p.name);
    SynthOptions o = synth_options_for_model(read_preset(p.name), "");
    o.config = nlohmann::ordered_json::object();  // the family's config, as --config gives one
    SynthSize size;
    CHECK_NOTHROW(size = synth_checkpoint_size(o));
    CHECK(size.tensors > 0);
    if (p.name == "llama3-8b") CHECK(size.tensor_bytes == 2684616704ULL);
  }
}
