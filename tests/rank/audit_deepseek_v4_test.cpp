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
#include "support/dense_subspace.hpp"
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

// Planted F32 weights of kTinyV4's two layers.
SynthOptions tiny_v4_synth(const ModelDesign& m, uint64_t seed) {
  SynthOptions o;
  o.layout = SynthLayout::kLlama;
  o.shape = m.layers[0].attention;
  o.layer_shapes = {m.layers[0].attention, m.layers[1].attention};
  o.layers = 2;
  o.dtype = "F32";
  o.seed = seed;
  for (const auto& l : m.layers) o.compress_ratios.push_back(l.span.kind == SpanKind::kCompressed ? l.span.ratio : 0);
  o.compressor_rank = parse_rank_pattern("6", "--compressor-rank");
  return o;
}
}  // namespace

TEST_CASE("audit: DeepSeek-V4's compressed query, K = V latent and grouped output LoRA", "[rank]") {
  const ModelDesign m = model_from_hf_config(nlohmann::json::parse(kTinyV4), "config.json");
  SynthOptions o = tiny_v4_synth(m, 5);
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
  // The HCA layer's compressor: diag(norm)·wkv (c = 16 rows) planted at 6; none on the window layer.
  CHECK(r.layers[0].compressor.empty());
  REQUIRE(a.compressor.size() == 1);
  CHECK(a.compressor[0].nominal_rank == 16);
  CHECK(a.compressor[0].metrics.numerical_rank == 6);
  const Eigen::VectorXd gc = t.read_matrix_d(b + "compressor.norm.weight").col(0);
  CHECK(gap(a.compressor[0].sigma, sigma_of(gc.asDiagonal() * t.read_matrix_d(b + "compressor.wkv.weight"))) < 1e-9);
  CHECK(a.measured_slsd == 12);  // the latent's nope rows
  CHECK(a.measured_ter == 2 * 3 + 2 * 12);
  bool grouped_note = false;
  for (const auto& n : a.notes) grouped_note = grouped_note || n.find("grouped output LoRA") != std::string::npos;
  CHECK(grouped_note);
  const AuditReport back = audit_from_json(nlohmann::json::parse(audit_to_json(r, false).dump()), "test");
  REQUIRE(back.layers[1].output_groups.size() == 2);
  CHECK(back.layers[1].output_groups[0].metrics.numerical_rank == 12);
}

namespace {
// Head i's dense circuits in layer `l` of a V4 checkpoint, in float64 (the first test's matrices),
// as the diff orients them (left = the side queries/values read: VO is (W_O,i·L)ᵀ).
enum class V4Circuit { kQk, kVo, kRope, kGroup };
MatrixXd dense_v4(const Checkpoint& ck, int l, int64_t i, V4Circuit which) {
  const auto& t = *ck.tensors;
  const std::string b = "model.layers." + std::to_string(l) + ".attn.";
  const Eigen::VectorXd gq = t.read_matrix_d(b + "q_norm.weight").col(0), gkv = t.read_matrix_d(b + "kv_norm.weight").col(0);
  const MatrixXd lat = gkv.asDiagonal() * t.read_matrix_d(b + "wkv.weight");
  if (which == V4Circuit::kQk || which == V4Circuit::kRope) {
    const MatrixXd wq = t.read_matrix_d(b + "wq_b.weight").middleRows(i * 16, 16) * gq.asDiagonal() *
                        t.read_matrix_d(b + "wq_a.weight");
    // nope: the first 12 of c = 16 latent dims; RoPE: the last 4.
    if (which == V4Circuit::kRope) return wq.bottomRows(4).transpose() * lat.bottomRows(4);
    return wq.topRows(12).transpose() * lat.topRows(12);
  }
  if (which == V4Circuit::kGroup)  // group i's whole map wo_b_i·wo_a_i (d × 2 heads·c)
    return t.read_matrix_d(b + "wo_b.weight").middleCols(i * 16, 16) * t.read_matrix_d(b + "wo_a.weight").middleRows(i * 16, 16);
  const int64_t g = i / 2, j = i % 2;
  return (t.read_matrix_d(b + "wo_b.weight").middleCols(g * 16, 16) *
          t.read_matrix_d(b + "wo_a.weight").block(g * 16, j * 16, 16, 16) * lat).transpose();
}

}  // namespace

TEST_CASE("audit diff: DeepSeek-V4 F32 vs BF16 equals a dense float64 diff of the formed circuits", "[rank]") {
  // The same planted weights stored as F32 and BF16: per head, the QK circuit through the
  // compressed query and the latent's nope rows, the VO circuit through the grouped output LoRA.
  const ModelDesign m = model_from_hf_config(nlohmann::json::parse(kTinyV4), "config.json");
  SynthOptions o = tiny_v4_synth(m, 9);
  o.qk_rank = parse_rank_pattern("3", "--qk-rank");
  o.vo_rank = parse_rank_pattern("5", "--vo-rank");
  const std::string da = test::scratch_dir("v4-diff-f32"), db = test::scratch_dir("v4-diff-bf16");
  o.dtype = "F32";
  write_synth_checkpoint(da, o);
  o.dtype = "BF16";
  write_synth_checkpoint(db, o);
  const Checkpoint ca = open_checkpoint(da), cb = open_checkpoint(db);
  const Layout la = detect_layout(ca, m), lb = detect_layout(cb, m);
  const AuditDiffReport r = diff_checkpoints(ca, la, cb, lb, {});
  REQUIRE(r.layers.size() == 2);
  int checked = 0;
  // One circuit of A and B against the dense float64 matrices of both.
  auto check_circuit = [&](const CircuitDiff& c, const MatrixXd& wa, const MatrixXd& wb) {
    CHECK(c.a.sigma_1 == Approx(sigma_of(wa)[0]).epsilon(1e-12));
    const auto [left, right] = test::dense_angles_deg(wa, wb, c.r);
    CHECK(std::abs(c.left_angle_deg - left) < 1e-6);
    CHECK(std::abs(c.right_angle_deg - right) < 1e-6);
    CHECK(std::abs(c.change_rel - sigma_of(wb - wa)[0] / c.a.sigma_1) < 1e-10);
    // BF16 rounding (8 significant bits): a small nonzero change.
    CHECK(c.change_rel > 1e-4);
    CHECK(c.change_rel < 0.05);
  };
  for (const auto& l : r.layers) {
    REQUIRE(l.heads.size() == 4);
    // The RoPE circuit of every head (full rank 4) and each output group's map (rank 2 x 5 = 10).
    for (const auto& h : l.heads) {
      INFO("layer " << l.layer << " head " << h.head << " qk_rope");
      REQUIRE(h.qk_rope.has_value());
      CHECK(h.qk_rope->r == 4);
      check_circuit(*h.qk_rope, dense_v4(ca, l.layer, h.head, V4Circuit::kRope),
                    dense_v4(cb, l.layer, h.head, V4Circuit::kRope));
    }
    // The HCA layer's compressor factor diag(norm)·wkv (d x c as the diff orients it); the right
    // subspace at r = c is the whole head space (the dense acos cannot resolve 0 there).
    REQUIRE(l.compressor.size() == (l.layer == 1 ? 1u : 0u));
    for (const CircuitDiff& c : l.compressor) {
      INFO("layer " << l.layer << " compressor");
      auto dense = [&](const Checkpoint& ck) -> MatrixXd {
        const std::string b = "model.layers.1.attn.compressor.";
        return (ck.tensors->read_matrix_d(b + "norm.weight").col(0).asDiagonal() *
                ck.tensors->read_matrix_d(b + "wkv.weight")).transpose();
      };
      const MatrixXd wa = dense(ca), wb = dense(cb);
      CHECK(c.a.sigma_1 == Approx(sigma_of(wa)[0]).epsilon(1e-12));
      CHECK(c.r <= 6);  // planted at 6
      const auto [left, right] = test::dense_angles_deg(wa, wb, c.r);
      CHECK(std::abs(c.left_angle_deg - left) < 1e-6);
      CHECK(std::abs(c.right_angle_deg - right) < 1e-6);
      CHECK(std::abs(c.change_rel - sigma_of(wb - wa)[0] / c.a.sigma_1) < 1e-10);
    }
    REQUIRE(l.output_groups.size() == 2);
    for (int64_t g = 0; g < 2; ++g) {
      INFO("layer " << l.layer << " group " << g);
      CHECK(l.output_groups[static_cast<size_t>(g)].r <= 10);
      check_circuit(l.output_groups[static_cast<size_t>(g)], dense_v4(ca, l.layer, g, V4Circuit::kGroup),
                    dense_v4(cb, l.layer, g, V4Circuit::kGroup));
    }
    for (const auto& h : l.heads) {
      for (const bool qk : {true, false}) {
        INFO("layer " << l.layer << " head " << h.head << (qk ? " qk" : " vo"));
        const CircuitDiff& c = qk ? h.qk : h.vo;
        const V4Circuit which = qk ? V4Circuit::kQk : V4Circuit::kVo;
        CHECK(c.r <= (qk ? 3 : 5));
        check_circuit(c, dense_v4(ca, l.layer, h.head, which), dense_v4(cb, l.layer, h.head, which));
        ++checked;
      }
    }
  }
  CHECK(checked == 16);
}

TEST_CASE("audit: DeepSeek-V4's CSA compressor reports its two overlapping halves apart", "[rank]") {
  // Layer 0 CSA (ratio 4: wkv [2c, d], ape [4, 2c]), layer 1 HCA; halves planted at 2 and 9.
  nlohmann::json cfg = nlohmann::json::parse(kTinyV4);
  cfg["compress_ratios"] = {4, 128};
  cfg["index_topk"] = 64, cfg["index_n_heads"] = 2, cfg["index_head_dim"] = 16;
  const ModelDesign m = model_from_hf_config(cfg, "config.json");
  SynthOptions o = tiny_v4_synth(m, 7);
  o.compressor_rank = parse_rank_pattern("2,9", "--compressor-rank");
  const std::string dir = test::scratch_dir("v4-csa");
  write_synth_checkpoint(dir, o);
  const Checkpoint ck = open_checkpoint(dir);
  const Layout lay = detect_layout(ck, m);
  CHECK(lay.layers[0].compressor_halves == 2);
  CHECK(lay.layers[1].compressor_halves == 1);
  CHECK(lay.layers[0].compressor_wkv == "model.layers.0.attn.compressor.wkv.weight");
  const AuditReport r = audit_checkpoint(ck, lay, {});
  REQUIRE(r.layers[0].compressor.size() == 2);
  CHECK(r.layers[0].compressor[0].metrics.numerical_rank == 2);
  CHECK(r.layers[0].compressor[1].metrics.numerical_rank == 9);
  // Layer 1's one half is pattern entry (layer 1 x 1 half + 0) mod 2 = 1: rank 9.
  REQUIRE(r.layers[1].compressor.size() == 1);
  CHECK(r.layers[1].compressor[0].metrics.numerical_rank == 9);
  const MatrixXd wkv = ck.tensors->read_matrix_d("model.layers.0.attn.compressor.wkv.weight");
  const Eigen::VectorXd gc = ck.tensors->read_matrix_d("model.layers.0.attn.compressor.norm.weight").col(0);
  CHECK(gap(r.layers[0].compressor[1].sigma, sigma_of(gc.asDiagonal() * wkv.middleRows(16, 16))) < 1e-9);
  bool noted = false;
  for (const auto& n : r.layers[0].notes) noted = noted || n.find("two overlapping halves") != std::string::npos;
  CHECK(noted);
  const AuditReport back = audit_from_json(nlohmann::json::parse(audit_to_json(r, false).dump()), "test");
  REQUIRE(back.layers[0].compressor.size() == 2);
  CHECK(back.layers[0].compressor[1].metrics.numerical_rank == 9);
}
