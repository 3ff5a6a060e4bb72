// The audit of recurrent layers: the query and key factors of KDA (Kimi-Linear), Gated DeltaNet
// (Qwen3.5's in_proj_qkv, Qwen3-Next's in_proj_qkvz), Mamba2 (C and B of in_proj; Nemotron-H's
// names and MLP-only blocks) and Mamba-1 (Jamba's x_proj), rank <= d_k or d_state, apart from the
// softmax circuits (docs/audit.md, "Recurrent layers").
#include <catch2/catch.hpp>

#include <Eigen/SVD>
#include <nlohmann/json.hpp>

#include "gmha/bridge/layout.hpp"
#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/checkpoint/safetensors_writer.hpp"
#include "gmha/core/atomic_file.hpp"
#include "gmha/rank/audit.hpp"
#include "gmha/rank/audit_diff.hpp"
#include "gmha/rank/audit_diff_json.hpp"
#include "gmha/rank/audit_json.hpp"
#include "support/dense_subspace.hpp"
#include "support/planted_checkpoint.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using Eigen::MatrixXd;

namespace {
// MiniMax's lightning layer at d = 96: 4 heads of d_k = d_v = 16.
AttentionShape lightning_96() {
  AttentionShape s;
  s.variant = Variant::kLinear;
  s.recurrent = RecurrentKind::kLightning;
  s.d_model = 96, s.heads = 4, s.kv_heads = 4, s.head_dim = 16, s.state_value_dim = 16;
  return s;
}
// Granite 4.0-H's Mamba2 at d = 96: 8 heads of 8 (I = 64), 2 groups of d_state 16.
AttentionShape mamba2_96() {
  AttentionShape s;
  s.variant = Variant::kLinear;
  s.recurrent = RecurrentKind::kMamba2;
  s.d_model = 96, s.heads = 8, s.kv_heads = 8, s.head_dim = 8, s.inner = 64;
  s.key_heads = 2, s.state_value_dim = 16, s.conv_kernel = 4;
  return s;
}
// F32 planted layers of `shapes` (GQA layers: full QK, VO `vo`), recurrent query/key factors
// planted at the patterns `q`, `k` (synth.hpp).
SynthOptions planted_stack(const std::vector<AttentionShape>& shapes, const char* q, const char* k,
                           const char* vo = "full") {
  SynthOptions o = test::planted_synth(SynthLayout::kLlama, test::gqa_96(4, 2, 16), "full", vo);
  o.layers = static_cast<int64_t>(shapes.size());
  o.layer_shapes = shapes;
  o.recurrent_q_rank = parse_rank_pattern(q, "q");
  o.recurrent_k_rank = parse_rank_pattern(k, "k");
  return o;
}
}  // namespace

TEST_CASE("audit layouts: a KDA layer's query and key factors, rank <= d_k, apart from the circuits", "[rank]") {
  // Kimi-Linear alternates KDA and MLA layers; here a GQA layer and a KDA layer of 4 heads with
  // d_k = 16 (q_proj, k_proj [64, 96]), planted query ranks 5, full and key ranks 2, 9.
  AttentionShape kda;
  kda.variant = Variant::kLinear;
  kda.recurrent = RecurrentKind::kKda;
  kda.d_model = 96, kda.heads = 4, kda.kv_heads = 4, kda.head_dim = 16, kda.state_value_dim = 16;
  kda.conv_kernel = 4;
  SynthOptions o = planted_stack({test::gqa_96(4, 2, 16), kda}, "5,full", "2,9");
  const std::string dir = test::scratch_dir("lay-kda");
  write_synth_checkpoint(dir, o);
  const Checkpoint ck = open_checkpoint(dir);
  const Layout lay = detect_layout(ck, test::model_of(o.layer_shapes));
  CHECK(lay.layers[1].kind == LayoutKind::kLinear);
  CHECK(lay.layers[1].k_proj == "model.layers.1.self_attn.k_proj.weight");
  const AuditReport r = audit_checkpoint(ck, lay, {});
  const LayerAudit& l = r.layers[1];
  CHECK_FALSE(l.audited);
  CHECK(l.heads.empty());
  REQUIRE(l.recurrent_q.size() == 4);
  const auto& t = *ck.tensors;
  const MatrixD q = t.read_matrix_d(lay.layers[1].q_proj);
  for (int64_t i = 0; i < 4; ++i) {
    INFO("head " << i);
    const CircuitAudit &cq = l.recurrent_q[static_cast<size_t>(i)], &ck_ = l.recurrent_k[static_cast<size_t>(i)];
    CHECK(cq.nominal_rank == 16);
    CHECK(cq.metrics.numerical_rank == (i % 2 == 0 ? 5 : 16));
    CHECK(ck_.metrics.numerical_rank == (i % 2 == 0 ? 2 : 9));
    Eigen::JacobiSVD<MatrixXd> svd(MatrixXd(q.middleRows(i * 16, 16)));
    for (int64_t j = 0; j < 16; ++j)
      CHECK(std::abs(cq.sigma[static_cast<size_t>(j)] - svd.singularValues()(j)) < 1e-9);
  }
  // Not in the softmax totals: the summary counts only layer 0.
  const AuditSummary s = summarize(r);
  CHECK(s.layers == 1);
  CHECK(s.measured_ter == 4 * 16);
  const AuditReport back = audit_from_json(nlohmann::json::parse(audit_to_json(r, false).dump()), "test");
  REQUIRE(back.layers[1].recurrent_k.size() == 4);
  CHECK(back.layers[1].recurrent_k[1].metrics.numerical_rank == 9);
}

TEST_CASE("audit layouts: Gated DeltaNet's query and key factors in both fused projections", "[rank]") {
  // Qwen3.5 (in_proj_qkv: every q row, every k row, then v) and Qwen3-Next (in_proj_qkvz: per key
  // head its q, k, then its value heads' v and z): 4 key heads of d_k = 16 shared by 8 value
  // heads of d_v = 8, planted query ranks 5, full and key ranks 3, 11 beside full-rank v/z rows.
  // Reading the rows of another head, or of v/z, would give another rank.
  AttentionShape gdn;
  gdn.variant = Variant::kLinear;
  gdn.recurrent = RecurrentKind::kGatedDeltaNet;
  gdn.d_model = 96, gdn.heads = 8, gdn.kv_heads = 8, gdn.key_heads = 4, gdn.head_dim = 16;
  gdn.state_value_dim = 8, gdn.conv_kernel = 4;
  for (const bool qkvz : {false, true}) {
    INFO((qkvz ? "in_proj_qkvz" : "in_proj_qkv"));
    SynthOptions o = planted_stack({test::gqa_96(4, 2, 16), gdn}, "5,full", "3,11");
    o.gdn_qkvz = qkvz;
    const std::string dir = test::scratch_dir("lay-gdn");
    write_synth_checkpoint(dir, o);
    const Checkpoint ck = open_checkpoint(dir);
    const Layout lay = detect_layout(ck, test::model_of(o.layer_shapes));
    const LayerLayout& ll = lay.layers[1];
    CHECK(ll.q_proj == std::string("model.layers.1.linear_attn.") + (qkvz ? "in_proj_qkvz" : "in_proj_qkv") + ".weight");
    CHECK(ll.recurrent_heads == 4);
    // Qwen3-Next: a key head's group is 2 x 16 + 2 x (8 / 4) x 8 = 64 rows, its k at row 16.
    CHECK(ll.row_stride == (qkvz ? 64 : 16));
    CHECK(ll.k_row0 == (qkvz ? 16 : 64));
    const AuditReport r = audit_checkpoint(ck, lay, {});
    const LayerAudit& l = r.layers[1];
    CHECK_FALSE(l.audited);
    REQUIRE(l.recurrent_q.size() == 4);
    const MatrixD w = ck.tensors->read_matrix_d(ll.q_proj);
    for (int64_t i = 0; i < 4; ++i) {
      INFO("key head " << i);
      CHECK(l.recurrent_q[static_cast<size_t>(i)].metrics.numerical_rank == (i % 2 == 0 ? 5 : 16));
      CHECK(l.recurrent_k[static_cast<size_t>(i)].metrics.numerical_rank == (i % 2 == 0 ? 3 : 11));
      // σ of the key factor against a float64 SVD of the rows transformers' split gives it.
      const int64_t k_row = qkvz ? i * 64 + 16 : 64 + i * 16;
      Eigen::JacobiSVD<MatrixXd> svd(MatrixXd(w.middleRows(k_row, 16)));
      for (int64_t j = 0; j < 16; ++j)
        CHECK(std::abs(l.recurrent_k[static_cast<size_t>(i)].sigma[static_cast<size_t>(j)] - svd.singularValues()(j)) <
              1e-9);
    }
    CHECK(summarize(r).layers == 1);  // not in the softmax totals
  }
}

TEST_CASE("audit layouts: Mamba2's per-group C and B factors in in_proj", "[rank]") {
  // Granite 4.0-H's names (mamba.in_proj [z I, x I, B G·N, C G·N, dt H]): 2 groups of d_state
  // N = 16, 8 heads of 8 (I = 64); planted C ranks 5, full and B ranks 3, 11 beside noise rows.
  const AttentionShape m2 = mamba2_96();
  SynthOptions o = planted_stack({m2, test::gqa_96(4, 2, 16)}, "5,full", "3,11");
  const std::string dir = test::scratch_dir("lay-mamba2");
  write_synth_checkpoint(dir, o);
  const Checkpoint ck = open_checkpoint(dir);
  const Layout lay = detect_layout(ck, test::model_of(o.layer_shapes));
  const LayerLayout& ll = lay.layers[0];
  CHECK(ll.q_proj == "model.layers.0.mamba.in_proj.weight");
  CHECK(ll.recurrent_heads == 2);
  CHECK(ll.recurrent_dk == 16);
  CHECK(ll.k_row0 == 128);  // B after z and x
  CHECK(ll.q_row0 == 160);  // C after B (2 x 16)
  const AuditReport r = audit_checkpoint(ck, lay, {});
  const LayerAudit& l = r.layers[0];
  REQUIRE(l.recurrent_q.size() == 2);
  const MatrixD w = ck.tensors->read_matrix_d(ll.q_proj);
  for (int64_t g = 0; g < 2; ++g) {
    INFO("group " << g);
    CHECK(l.recurrent_q[static_cast<size_t>(g)].nominal_rank == 16);
    CHECK(l.recurrent_q[static_cast<size_t>(g)].metrics.numerical_rank == (g == 0 ? 5 : 16));
    CHECK(l.recurrent_k[static_cast<size_t>(g)].metrics.numerical_rank == (g == 0 ? 3 : 11));
    Eigen::JacobiSVD<MatrixXd> svd(MatrixXd(w.middleRows(160 + g * 16, 16)));
    for (int64_t j = 0; j < 16; ++j)
      CHECK(std::abs(l.recurrent_q[static_cast<size_t>(g)].sigma[static_cast<size_t>(j)] - svd.singularValues()(j)) < 1e-9);
  }
  REQUIRE_FALSE(l.notes.empty());
  CHECK_THAT(l.notes.back(), Catch::Contains("d_state = 16"));
  CHECK(r.layers[1].audited);  // the GQA layer beside it
}

TEST_CASE("audit layouts: Nemotron-H's backbone.layers mixer names and its MLP-only blocks", "[rank]") {
  // A Nemotron-H folder as NVIDIA names its tensors: block 0 Mamba2 (mixer.in_proj), block 1
  // attention (mixer.q_proj ...), block 2 an MLP (no mixer). Its config.json is read by the
  // nemotron_h reader, so the layout follows hybrid_override_pattern "M*-".
  const std::string dir = test::scratch_dir("lay-nemotron-h");
  write_file_atomically(dir + "/config.json", R"({"model_type": "nemotron_h",
    "architectures": ["NemotronHForCausalLM"], "hidden_size": 32, "num_hidden_layers": 3,
    "hybrid_override_pattern": "M*-", "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 8, "intermediate_size": 64, "mamba_num_heads": 4, "mamba_head_dim": 8,
    "ssm_state_size": 8, "n_groups": 2, "conv_kernel": 4, "vocab_size": 100})");
  // in_proj [z 32, x 32, B 2 x 8, C 2 x 8, dt 4] x 32: B_0 rank 3, B_1 full, C_0 rank 2, C_1 full.
  test::Gaussian random(7);
  MatrixXd in_proj = random(100, 32);
  in_proj.middleRows(64, 8) = random(8, 3) * random(3, 32);
  in_proj.middleRows(80, 8) = random(8, 2) * random(2, 32);
  const auto tensor = test::f32_tensor;
  write_safetensors(dir, {tensor("backbone.layers.0.mixer.in_proj.weight", in_proj),
                          tensor("backbone.layers.1.mixer.q_proj.weight", random(32, 32)),
                          tensor("backbone.layers.1.mixer.k_proj.weight", random(16, 32)),
                          tensor("backbone.layers.1.mixer.v_proj.weight", random(16, 32)),
                          tensor("backbone.layers.1.mixer.o_proj.weight", random(32, 32)),
                          tensor("backbone.layers.2.mixer.up_proj.weight", random(64, 32)),
                          tensor("backbone.layers.2.mixer.down_proj.weight", random(32, 64))});
  const Checkpoint ck = open_checkpoint(dir);
  const Layout lay = detect_layout(ck);
  REQUIRE(lay.layers.size() == 3);
  CHECK(lay.layers[0].kind == LayoutKind::kLinear);
  CHECK(lay.layers[1].kind == LayoutKind::kGqa);
  CHECK(lay.layers[1].q_proj == "backbone.layers.1.mixer.q_proj.weight");
  CHECK(lay.layers[2].kind == LayoutKind::kNone);
  const AuditReport r = audit_checkpoint(ck, lay, {});
  REQUIRE(r.layers[0].recurrent_k.size() == 2);
  CHECK(r.layers[0].recurrent_k[0].metrics.numerical_rank == 3);
  CHECK(r.layers[0].recurrent_k[1].metrics.numerical_rank == 8);
  CHECK(r.layers[0].recurrent_q[0].metrics.numerical_rank == 2);
  CHECK(r.layers[0].recurrent_q[1].metrics.numerical_rank == 8);
  CHECK(r.layers[1].audited);
  CHECK(r.layers[1].heads.size() == 4);
  CHECK_FALSE(r.layers[2].audited);
  CHECK_THAT(r.layers[2].notes.at(0), Catch::Contains("no token mixer"));
  CHECK(r.layers[2].layout == "none");
  CHECK(summarize(r).layers == 1);
}

TEST_CASE("audit layouts: Mamba-1's C and B factors in Jamba's x_proj, with b/c_layernorm", "[rank]") {
  // A Jamba folder in AI21's names: layer 0 Mamba-1 (mamba.x_proj [dt 4, B 8, C 8] x I = 64,
  // b_layernorm, c_layernorm), layer 1 attention (attn_layer_period 2, offset 1). Planted: B rank
  // 3; C full but c_layernorm's γ has a zero, so C's factor diag(γ)·W_C has rank 7. dt rows are
  // full rank; reading them as B would give 4.
  const std::string dir = test::scratch_dir("lay-jamba");
  write_file_atomically(dir + "/config.json", R"({"model_type": "jamba",
    "architectures": ["JambaForCausalLM"], "hidden_size": 32, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 64,
    "attn_layer_period": 2, "attn_layer_offset": 1, "num_experts": 1, "mamba_d_state": 8,
    "mamba_d_conv": 4, "mamba_expand": 2, "mamba_dt_rank": 4, "vocab_size": 100})");
  test::Gaussian random(5);
  MatrixXd x_proj = random(20, 64);
  x_proj.middleRows(4, 8) = random(8, 3) * random(3, 64);
  Eigen::VectorXd gamma_c = random(8, 1).col(0).cwiseAbs();
  gamma_c(5) = 0.0;
  const Eigen::VectorXd gamma_b = random(8, 1).col(0).cwiseAbs();
  write_safetensors(dir, {test::f32_tensor("model.layers.0.mamba.x_proj.weight", x_proj),
                          test::f32_vector("model.layers.0.mamba.b_layernorm.weight", gamma_b),
                          test::f32_vector("model.layers.0.mamba.c_layernorm.weight", gamma_c),
                          test::f32_tensor("model.layers.1.self_attn.q_proj.weight", random(32, 32)),
                          test::f32_tensor("model.layers.1.self_attn.k_proj.weight", random(16, 32)),
                          test::f32_tensor("model.layers.1.self_attn.v_proj.weight", random(16, 32)),
                          test::f32_tensor("model.layers.1.self_attn.o_proj.weight", random(32, 32))});
  const Checkpoint ck = open_checkpoint(dir);
  const Layout lay = detect_layout(ck);
  REQUIRE(lay.layers.size() == 2);
  const LayerLayout& ll = lay.layers[0];
  CHECK(ll.kind == LayoutKind::kLinear);
  CHECK(ll.q_proj == "model.layers.0.mamba.x_proj.weight");
  CHECK(ll.k_row0 == 4);
  CHECK(ll.q_row0 == 12);
  const AuditReport r = audit_checkpoint(ck, lay, {});
  const LayerAudit& l = r.layers[0];
  REQUIRE(l.recurrent_q.size() == 1);
  CHECK(l.recurrent_q[0].nominal_rank == 8);
  CHECK(l.recurrent_k[0].metrics.numerical_rank == 3);
  CHECK(l.recurrent_q[0].metrics.numerical_rank == 7);
  // σ of C's factor against a float64 SVD of diag(γ_c)·W_C (F32-rounded as stored).
  const MatrixXd wc = ck.tensors->read_matrix_d(ll.q_proj).middleRows(12, 8);
  const Eigen::VectorXd gc = ck.tensors->read_matrix_d("model.layers.0.mamba.c_layernorm.weight").reshaped();
  Eigen::JacobiSVD<MatrixXd> svd(MatrixXd(gc.asDiagonal() * wc));
  for (int64_t j = 0; j < 8; ++j)
    CHECK(std::abs(l.recurrent_q[0].sigma[static_cast<size_t>(j)] - svd.singularValues()(j)) < 1e-9 * svd.singularValues()(0));
  REQUIRE_FALSE(l.notes.empty());
  CHECK_THAT(l.notes.back(), Catch::Contains("Mamba-1"));
  CHECK(l.mixer == "Mamba");
  CHECK(r.layers[1].audited);
  CHECK(r.layers[1].heads.size() == 4);
}

TEST_CASE("audit layouts: synth's planted Mamba-1 layer comes back (C rank 5, B rank 3, of width I)", "[rank]") {
  // Jamba's Mamba-1 at d = 96: I = 192 channels, d_state N = 16, dt rank 6; beside a GQA layer.
  AttentionShape m1;
  m1.variant = Variant::kLinear;
  m1.recurrent = RecurrentKind::kMamba;
  m1.d_model = 96, m1.inner = 192, m1.heads = m1.kv_heads = 192, m1.head_dim = 1;
  m1.key_heads = 1, m1.state_value_dim = 16, m1.conv_kernel = 4, m1.dt_rank = 6;
  SynthOptions o = planted_stack({m1, test::gqa_96(4, 2, 16)}, "5", "3");
  const std::string dir = test::scratch_dir("lay-mamba1-synth");
  write_synth_checkpoint(dir, o);
  const Checkpoint ck = open_checkpoint(dir);
  const Layout lay = detect_layout(ck, test::model_of(o.layer_shapes));
  CHECK(lay.layers[0].q_proj == "model.layers.0.mamba.x_proj.weight");
  CHECK(lay.layers[0].q_norm == "model.layers.0.mamba.c_layernorm.weight");
  const AuditReport r = audit_checkpoint(ck, lay, {});
  REQUIRE(r.layers[0].recurrent_q.size() == 1);
  CHECK(r.layers[0].recurrent_q[0].metrics.numerical_rank == 5);
  CHECK(r.layers[0].recurrent_k[0].metrics.numerical_rank == 3);
  CHECK(r.layers[1].heads.size() == 4);
}

TEST_CASE("audit layouts: MiniMax's lightning heads, q and k rows of qkv_proj, from its config.json", "[rank]") {
  // MiniMax-M1's names: layer 0 lightning (self_attn.qkv_proj [4 heads x (q, k, v) 16, 96]),
  // layer 1 softmax GQA 4/2 (attn_type_list [0, 1]). Planted query ranks 5, full and key ranks
  // 2, 9 beside full-rank v rows; reading another head's rows, or v's, gives another rank.
  const AttentionShape lightning = lightning_96();
  SynthOptions o = planted_stack({lightning, test::gqa_96(4, 2, 16)}, "5,full", "2,9", "3");
  const std::string dir = test::scratch_dir("lay-minimax");
  write_synth_checkpoint(dir, o);
  write_file_atomically(dir + "/config.json", R"({"model_type": "minimax_m1",
    "architectures": ["MiniMaxM1ForCausalLM"], "hidden_size": 96, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 64,
    "num_local_experts": 4, "num_experts_per_tok": 2, "attn_type_list": [0, 1], "vocab_size": 100})");
  const Checkpoint ck = open_checkpoint(dir);
  const Layout lay = detect_layout(ck);  // the minimax reader's model, not a given one
  const LayerLayout& ll = lay.layers[0];
  CHECK(ll.kind == LayoutKind::kLinear);
  CHECK(ll.q_proj == "model.layers.0.self_attn.qkv_proj.weight");
  CHECK(ll.recurrent_heads == 4);
  CHECK(ll.k_row0 == 16);
  CHECK(ll.row_stride == 48);
  const AuditReport r = audit_checkpoint(ck, lay, {});
  const LayerAudit& l = r.layers[0];
  CHECK_FALSE(l.audited);
  CHECK(l.mixer == "Lightning");
  REQUIRE(l.recurrent_q.size() == 4);
  const MatrixD w = ck.tensors->read_matrix_d(ll.q_proj);
  for (int64_t i = 0; i < 4; ++i) {
    INFO("head " << i);
    const CircuitAudit &cq = l.recurrent_q[static_cast<size_t>(i)], &ck_ = l.recurrent_k[static_cast<size_t>(i)];
    CHECK(cq.nominal_rank == 16);
    CHECK(cq.metrics.numerical_rank == (i % 2 == 0 ? 5 : 16));
    CHECK(ck_.metrics.numerical_rank == (i % 2 == 0 ? 2 : 9));
    // transformers reshapes qkv_proj's output to [H, 3·d_k] and splits: head i's k is rows 48i + 16..
    Eigen::JacobiSVD<MatrixXd> svd(MatrixXd(w.middleRows(48 * i + 16, 16)));
    for (int64_t j = 0; j < 16; ++j)
      CHECK(std::abs(ck_.sigma[static_cast<size_t>(j)] - svd.singularValues()(j)) < 1e-9);
  }
  REQUIRE_FALSE(l.notes.empty());
  CHECK_THAT(l.notes.back(), Catch::Contains("lightning layer") && Catch::Contains("before the SiLU"));
  // The softmax layer beside it: planted VO rank 3 in every head.
  REQUIRE(r.layers[1].heads.size() == 4);
  for (const auto& h : r.layers[1].heads) CHECK(h.vo.metrics.numerical_rank == 3);
  CHECK(summarize(r).layers == 1);
}

TEST_CASE("audit diff: recurrent query/key factors, F32 vs BF16, equal a dense float64 diff", "[rank]") {
  // A lightning layer (qkv_proj), a Mamba2 layer (in_proj's C and B) and a GQA layer, stored as
  // F32 and as BF16. Each factor W (d x d_k) is compared as the circuit W·I: its angles are those
  // of W's own top-r subspaces, and ‖ΔW‖/σ₁ that of the stored rows.
  const AttentionShape lightning = lightning_96();
  const AttentionShape m2 = mamba2_96();
  SynthOptions o = planted_stack({lightning, m2, test::gqa_96(4, 2, 16)}, "5,full", "3,11");
  const std::string da = test::scratch_dir("diff-rec-f32"), db = test::scratch_dir("diff-rec-bf16");
  write_synth_checkpoint(da, o);
  o.dtype = "BF16";
  write_synth_checkpoint(db, o);
  const Checkpoint ca = open_checkpoint(da), cb = open_checkpoint(db);
  const ModelDesign m = test::model_of(o.layer_shapes);
  const Layout la = detect_layout(ca, m), lb = detect_layout(cb, m);
  const AuditDiffReport r = diff_checkpoints(ca, la, cb, lb, {});
  REQUIRE(r.layers.size() == 3);
  int checked = 0;
  for (int l = 0; l < 2; ++l) {
    const LayerDiff& ld = r.layers[static_cast<size_t>(l)];
    const LayerLayout& ll = la.layers[static_cast<size_t>(l)];
    CHECK_FALSE(ld.audited);
    CHECK(ld.heads.empty());
    CHECK(ld.mixer == (l == 0 ? "Lightning" : "Mamba2"));
    REQUIRE(ld.recurrent_q.size() == static_cast<size_t>(l == 0 ? 4 : 2));
    const MatrixD wa = ca.tensors->read_matrix_d(ll.q_proj), wb = cb.tensors->read_matrix_d(ll.q_proj);
    for (size_t i = 0; i < ld.recurrent_q.size(); ++i) {
      for (const bool query : {true, false}) {
        INFO("layer " << l << " head " << i << (query ? " q" : " k"));
        const CircuitDiff& c = query ? ld.recurrent_q[i] : ld.recurrent_k[i];
        const int64_t row = (query ? ll.q_row0 : ll.k_row0) + static_cast<int64_t>(i) * ll.row_stride;
        const MatrixXd fa = wa.middleRows(row, 16).transpose(), fb = wb.middleRows(row, 16).transpose();
        Eigen::JacobiSVD<MatrixXd> sa(fa), sd(MatrixXd(fb - fa));
        CHECK(c.a.sigma_1 == Approx(sa.singularValues()(0)).epsilon(1e-12));
        // The planted rank bounds A's energy rank.
        CHECK(c.r <= (query ? (i % 2 == 0 ? 5 : 16) : (i % 2 == 0 ? 3 : 11)));
        const auto [left, right] = test::dense_angles_deg(fa, fb, c.r);
        CHECK(std::abs(c.left_angle_deg - left) < 1e-6);
        // At r = d_k the right subspace is all of the head's coordinates: the angle is 0, which
        // the dense reference's acos resolves only to ~1e-6 degrees.
        if (c.r == 16) CHECK(c.right_angle_deg < 1e-9);
        else CHECK(std::abs(c.right_angle_deg - right) < 1e-6);
        CHECK(std::abs(c.change_rel - sd.singularValues()(0) / c.a.sigma_1) < 1e-10);
        CHECK(c.change_rel > 1e-4);  // BF16 rounding moved it, a little
        CHECK(c.change_rel < 0.05);
        ++checked;
      }
    }
    const LayerDiffSummary s = summarize_layer(ld);
    CHECK(s.factors == 2 * static_cast<int64_t>(ld.recurrent_q.size()));
    CHECK(s.max_angle_deg > 0.0);
  }
  CHECK(checked == 12);
  CHECK(r.layers[2].heads.size() == 4);
  const auto j = audit_diff_to_json(r, 5);
  CHECK(j["layers"][0]["mixer"] == "Lightning");
  CHECK(j["layers"][1]["recurrent"].size() == 2);
  CHECK(j["layers"][1]["recurrent"][1]["k"]["r"] == r.layers[1].recurrent_k[1].r);
  CHECK(j["layers"][0]["summary"]["factors"] == 8);
}
