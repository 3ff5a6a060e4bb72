// DeepSeek-V4's attention in its checkpoint names (attn.wq_a, q_norm, wq_b, wkv, kv_norm, wo_a,
// wo_b, attn_sink): planted ranks come back, and every circuit equals a float64 SVD of the
// matrices the reference forward pass multiplies (docs/audit.md, "DeepSeek-V4").
#include <catch2/catch.hpp>

#include <Eigen/SVD>
#include <nlohmann/json.hpp>

#include "gmha/attention/hf_config.hpp"
#include "gmha/bridge/layout.hpp"
#include "gmha/bridge/synth.hpp"
#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/rank/audit.hpp"
#include "gmha/rank/audit_diff.hpp"
#include "gmha/rank/audit_json.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using Eigen::MatrixXd;

namespace {
// A DeepSeek-V4 of two layers as its config class reads it: 4 heads of c = 16 (RoPE 4), one K = V
// latent, q_lora 24, 2 output groups of o_lora 16; a window layer and an HCA layer.
const char* kTinyV4 = R"({"model_type": "deepseek_v4", "hidden_size": 96, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16, "qk_rope_head_dim": 4,
  "q_lora_rank": 24, "o_lora_rank": 16, "o_groups": 2, "n_routed_experts": 4,
  "num_experts_per_tok": 2, "moe_intermediate_size": 32, "compress_ratios": [0, 128],
  "sliding_window": 8, "vocab_size": 100})";

std::vector<double> sigma_of(const MatrixXd& m) {
  Eigen::JacobiSVD<MatrixXd> svd(m);
  const auto& s = svd.singularValues();
  return {s.data(), s.data() + s.size()};
}

// max |factored σ − dense σ| / dense σ₁.
double gap(const std::vector<double>& f, const std::vector<double>& dense) {
  double worst = 0.0;
  for (size_t i = 0; i < dense.size(); ++i) worst = std::max(worst, std::abs((i < f.size() ? f[i] : 0.0) - dense[i]));
  return worst / dense[0];
}
}  // namespace

TEST_CASE("audit: DeepSeek-V4's compressed query, K = V latent and grouped output LoRA", "[rank]") {
  const ModelDesign m = model_from_hf_config(nlohmann::json::parse(kTinyV4), "config.json");
  SynthOptions o;
  o.layout = SynthLayout::kLlama;
  o.shape = m.layers[0].attention;
  o.layer_shapes = {m.layers[0].attention, m.layers[1].attention};
  o.layers = 2;
  o.dtype = "F32";
  o.seed = 5;
  // Nominal: QK min(c - d_R, q_lora) = 12, VO min(c, o_lora) = 16, each group min(o_lora 16, 2 x 16).
  o.qk_rank = parse_rank_pattern("3,full", "--qk-rank");
  o.vo_rank = parse_rank_pattern("5,7", "--vo-rank");
  const std::string dir = test::scratch_dir("v4-audit");
  write_synth_checkpoint(dir, o);
  const Checkpoint ck = open_checkpoint(dir);
  const Layout lay = detect_layout(ck, m);
  const LayerLayout& ll = lay.layers[1];
  CHECK(ll.kind == LayoutKind::kGqa);
  CHECK(ll.wo_a == "model.layers.1.attn.wo_a.weight");
  CHECK(ll.o_proj == "model.layers.1.attn.wo_b.weight");
  CHECK(ll.sinks == "model.layers.1.attn.attn_sink");
  const AuditReport r = audit_checkpoint(ck, lay, {});
  const LayerAudit& a = r.layers[1];
  REQUIRE(a.audited);
  REQUIRE(a.heads.size() == 4);
  REQUIRE(a.output_groups.size() == 2);

  // The float64 matrices of the forward pass: W_Q,i = wq_b_i·diag(γ_q)·wq_a, L = diag(γ_kv)·wkv,
  // W_O,i = wo_b[:, g·R ..] · wo_a[g·R .., j·c ..].
  const auto& t = *ck.tensors;
  const std::string b = "model.layers.1.attn.";
  const MatrixXd wq_a = t.read_matrix_d(b + "wq_a.weight"), wq_b = t.read_matrix_d(b + "wq_b.weight");
  const MatrixXd wkv = t.read_matrix_d(b + "wkv.weight"), wo_a = t.read_matrix_d(b + "wo_a.weight");
  const MatrixXd wo_b = t.read_matrix_d(b + "wo_b.weight");
  const Eigen::VectorXd gq = t.read_matrix_d(b + "q_norm.weight").col(0), gkv = t.read_matrix_d(b + "kv_norm.weight").col(0);
  const MatrixXd lat = gkv.asDiagonal() * wkv;  // 16 x 96
  for (int64_t i = 0; i < 4; ++i) {
    INFO("head " << i);
    const HeadAudit& h = a.heads[static_cast<size_t>(i)];
    const MatrixXd wq = wq_b.middleRows(i * 16, 16) * gq.asDiagonal() * wq_a;  // 16 x 96
    const int64_t g = i / 2, j = i % 2;
    const MatrixXd wo = wo_b.middleCols(g * 16, 16) * wo_a.block(g * 16, j * 16, 16, 16);  // 96 x 16
    CHECK(h.qk.nominal_rank == 12);
    CHECK(h.qk.metrics.numerical_rank == (i % 2 == 0 ? 3 : 12));
    CHECK(gap(h.qk.sigma, sigma_of(wq.topRows(12).transpose() * lat.topRows(12))) < 1e-9);
    REQUIRE(h.qk_rope);
    CHECK(h.qk_rope->metrics.numerical_rank == 4);
    CHECK(gap(h.qk_rope->sigma, sigma_of(wq.bottomRows(4).transpose() * lat.bottomRows(4))) < 1e-9);
    CHECK(h.vo.nominal_rank == 16);
    CHECK(h.vo.metrics.numerical_rank == (i % 2 == 0 ? 5 : 7));
    CHECK(gap(h.vo.sigma, sigma_of(wo * lat)) < 1e-9);
  }
  // Each group's map wo_b_g·wo_a_g reaches 5 + 7 = 12 of its bound 16.
  for (int64_t g = 0; g < 2; ++g) {
    const CircuitAudit& og = a.output_groups[static_cast<size_t>(g)];
    CHECK(og.nominal_rank == 16);
    CHECK(og.metrics.numerical_rank == 12);
    CHECK(gap(og.sigma, sigma_of(wo_b.middleCols(g * 16, 16) * wo_a.middleRows(g * 16, 16))) < 1e-9);
  }
  CHECK(a.measured_slsd == 12);  // the latent's nope rows
  CHECK(a.measured_ter == 2 * 3 + 2 * 12);
  bool grouped_note = false;
  for (const auto& n : a.notes) grouped_note = grouped_note || n.find("grouped output LoRA") != std::string::npos;
  CHECK(grouped_note);
  const AuditReport back = audit_from_json(nlohmann::json::parse(audit_to_json(r, false).dump()), "test");
  REQUIRE(back.layers[1].output_groups.size() == 2);
  CHECK(back.layers[1].output_groups[0].metrics.numerical_rank == 12);
}

TEST_CASE("audit diff: DeepSeek-V4 layers are refused, naming the layer", "[rank]") {
  const ModelDesign m = model_from_hf_config(nlohmann::json::parse(kTinyV4), "config.json");
  SynthOptions o;
  o.layout = SynthLayout::kLlama;
  o.shape = m.layers[0].attention;
  o.layers = 2;
  o.dtype = "F32";
  o.qk_rank = parse_rank_pattern("full", "--qk-rank");
  o.vo_rank = parse_rank_pattern("full", "--vo-rank");
  const std::string dir = test::scratch_dir("v4-diff");
  write_synth_checkpoint(dir, o);
  const Checkpoint ck = open_checkpoint(dir);
  const Layout lay = detect_layout(ck, m);
  CHECK_THROWS_WITH(diff_checkpoints(ck, lay, ck, lay, {}),
                    Catch::Contains("layer 0") && Catch::Contains("DeepSeek-V4"));
}
