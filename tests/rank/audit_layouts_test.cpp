// Audit layouts beyond the MFA paper's (docs/audit.md, "Layouts"): GTA and GLA in their reference
// code's tensor names (SLSD_head < SLSD_layer for GLA), the DSA indexer as its own scoring
// circuit, K = V tied heads, output gates, sinks and per-layer geometry, each from a planted-rank
// synth checkpoint, with spectra checked against a dense float64 SVD of the formed circuits; and
// `audit diff` on MLA, GLA, GTA and MFA against a dense float64 diff.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numbers>
#include <random>

#include <Eigen/SVD>
#include <fmt/format.h>

#include "gmha/core/atomic_file.hpp"
#include "gmha/checkpoint/safetensors_writer.hpp"

#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/core/error.hpp"
#include "gmha/rank/audit.hpp"
#include "gmha/rank/audit_diff.hpp"
#include "gmha/rank/audit_json.hpp"
#include "gmha/bridge/layout.hpp"
#include "gmha/bridge/synth.hpp"
#include "support/planted_checkpoint.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using Eigen::MatrixXd;
using Eigen::VectorXd;

namespace {

constexpr double kDeg = 180.0 / std::numbers::pi;

double planted(int64_t i, int64_t rank) {
  if (i >= rank) return 0.0;
  return rank == 1 ? 1.0 : 1.0 - 0.7 * static_cast<double>(i) / static_cast<double>(rank - 1);
}

std::vector<double> dense_sigma(const MatrixXd& a, const MatrixXd& b) {
  Eigen::JacobiSVD<MatrixXd> svd(a * b.transpose());
  const auto& s = svd.singularValues();
  return {s.data(), s.data() + s.size()};
}

double worst_gap(const std::vector<double>& f, const std::vector<double>& dense) {
  double worst = 0.0;
  for (size_t i = 0; i < dense.size(); ++i)
    worst = std::max(worst, std::abs((i < f.size() ? f[i] : 0.0) - dense[i]));
  return worst / dense[0];
}

AttentionShape gta() {
  AttentionShape s;
  s.variant = Variant::kGta;
  s.d_model = 96, s.heads = 4, s.kv_heads = 2, s.head_dim = 16, s.qk_rope_dim = 8;
  return s;
}
AttentionShape gla() {
  AttentionShape s;
  s.variant = Variant::kGla;
  s.d_model = 96, s.heads = 4, s.kv_heads = 2;
  s.q_lora_rank = 32, s.kv_lora_rank = 24, s.qk_nope_dim = 16, s.qk_rope_dim = 8, s.v_head_dim = 16;
  return s;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("audit layouts: GTA in the reference's names, circuits equal a dense SVD", "[rank]") {
  const std::string dir = test::scratch_dir("lay-gta");
  write_synth_checkpoint(dir, test::planted_synth(SynthLayout::kGta, gta(), "2,full,5,1", "full,3"));
  const Checkpoint ck = open_checkpoint(dir);
  const Layout lay = detect_layout(ck);
  REQUIRE(lay.layers.size() == 2);
  const LayerLayout& x = lay.layers[1];
  CHECK(x.kind == LayoutKind::kGta);
  CHECK(x.kv_proj == "model.layers.1.self_attn.kv_proj.weight");
  CHECK(x.k_rope_proj == "model.layers.1.self_attn.W_rope_k.weight");
  CHECK(x.shape.qk_rope_dim == 8);
  CHECK(lay.model.layers[1].attention.variant == Variant::kGta);
  const AuditReport r = audit_checkpoint(ck, lay, {});
  const LayerAudit& l = r.layers[1];
  CHECK(l.layout == "gta");
  // FRH d_h − d_R = 8; SLSD_layer h_kv·8 = 16, SLSD_head 8; VO reads the whole state: 16.
  CHECK(l.nominal.frh == 8);
  CHECK(l.measured_slsd == 16);
  CHECK(l.measured_slsd_head == 8);
  REQUIRE_FALSE(l.notes.empty());
  const auto& t = *ck.tensors;
  const MatrixD q = t.read_matrix_d(x.q_proj), kv = t.read_matrix_d(x.kv_proj);
  const MatrixD kr = t.read_matrix_d(x.k_rope_proj), o = t.read_matrix_d(x.o_proj);
  const RankPattern qk = parse_rank_pattern("2,full,5,1", "q"), vo = parse_rank_pattern("full,3", "v");
  for (int64_t c = 0; c < 4; ++c) {
    INFO("head " << c);
    const HeadAudit& h = l.heads[static_cast<size_t>(c)];
    const int64_t g = c / 2;
    // QK: q rows [16c, 16c + 8) against the state's first 8 dims; VO: the whole state.
    CHECK(worst_gap(h.qk.sigma, dense_sigma(q.middleRows(c * 16, 8).transpose(),
                                            kv.middleRows(g * 16, 8).transpose())) < 1e-9);
    CHECK(worst_gap(h.vo.sigma, dense_sigma(kv.middleRows(g * 16, 16).transpose(),
                                            o.middleCols(c * 16, 16))) < 1e-9);
    REQUIRE(h.qk_rope);
    CHECK(worst_gap(h.qk_rope->sigma, dense_sigma(q.middleRows(c * 16 + 8, 8).transpose(),
                                                  kr.transpose())) < 1e-9);
    CHECK(h.qk.metrics.numerical_rank == qk.rank_of(1, c, 4, 8));
    CHECK(h.vo.metrics.numerical_rank == vo.rank_of(1, c, 4, 16));
    CHECK(h.qk_rope->metrics.numerical_rank == 8);
  }
}

TEST_CASE("audit layouts: GLA recovers planted ranks and SLSD_head < SLSD_layer", "[rank]") {
  for (const std::string dtype : {"F32", "BF16"}) {
    INFO(dtype);
    const std::string dir = test::scratch_dir("lay-gla");
    SynthOptions o = test::planted_synth(SynthLayout::kGla, gla(), "1,full,3,2", "full,2,1");
    o.dtype = dtype;
    write_synth_checkpoint(dir, o);
    const Checkpoint ck = open_checkpoint(dir);
    const Layout lay = detect_layout(ck);
    const LayerLayout& x = lay.layers[0];
    CHECK(x.kind == LayoutKind::kGla);
    CHECK(x.shape.kv_heads == 2);       // h_c: kv_norm_1, kv_norm_2
    CHECK(x.shape.kv_lora_rank == 24);  // d_c from kv_norm_1
    CHECK(x.shape.q_lora_rank == 32);   // from W_dQ
    REQUIRE(x.kv_b_projs.size() == 2);
    CHECK(x.kv_b_projs[1] == "model.layers.0.self_attn.W_ukv_2.weight");
    const AuditReport r = audit_checkpoint(ck, lay, {});
    for (const LayerAudit& l : r.layers) {
      // SLSD_layer h_c·d_c = 48, SLSD_head d_c = 24: each head's keys reach only its latent.
      CHECK(l.nominal.slsd == 48);
      CHECK(l.nominal.slsd_head == 24);
      CHECK(l.measured_slsd == 48);
      CHECK(l.measured_slsd_head == 24);
      CHECK(l.measured_slsd_head < l.measured_slsd);
      for (const HeadAudit& h : l.heads) {
        CHECK(h.kv_head == h.head / 2);
        CHECK(h.qk.metrics.numerical_rank == o.qk_rank.rank_of(l.layer, h.head, 4, 16));
        CHECK(h.vo.metrics.numerical_rank == o.vo_rank.rank_of(l.layer, h.head, 4, 16));
        const double tol = dtype == "F32" ? 1e-5 : 2e-2;
        for (int64_t i = 0; i < 16; ++i)
          CHECK(std::abs(h.qk.sigma[static_cast<size_t>(i)] - planted(i, o.qk_rank.rank_of(l.layer, h.head, 4, 16))) < tol);
        REQUIRE(h.qk_rope);
        CHECK(h.qk_rope->metrics.numerical_rank == 8);
      }
    }
    if (dtype != "F32") continue;
    // Dense: head c's key map is W_dKV rows of its latent g, diag(γ_g), W_ukv_g's rows of c.
    const auto& t = *ck.tensors;
    const std::string p = "model.layers.0.self_attn.";
    const MatrixD dq = t.read_matrix_d(p + "W_dQ.weight"), uq = t.read_matrix_d(p + "W_uQ_rope.weight");
    const VectorXd gq = t.read_matrix_d(p + "q_norm.weight").col(0);
    const MatrixD dkv = t.read_matrix_d(p + "W_dKV.weight"), o_ = t.read_matrix_d(p + "o_proj.weight");
    for (int64_t c = 0; c < 4; ++c) {
      const int64_t g = c / 2, i = c % 2;
      const MatrixD up = t.read_matrix_d(p + fmt::format("W_ukv_{}.weight", g + 1));
      const VectorXd gk = t.read_matrix_d(p + fmt::format("kv_norm_{}.weight", g + 1)).col(0);
      const MatrixXd lat = dkv.middleRows(g * 24, 24).transpose() * gk.asDiagonal();
      const MatrixXd a = dq.transpose() * gq.asDiagonal() * uq.middleRows(c * 24, 16).transpose();
      const MatrixXd b = lat * up.middleRows(i * 32, 16).transpose();
      const HeadAudit& h = r.layers[0].heads[static_cast<size_t>(c)];
      CHECK(worst_gap(h.qk.sigma, dense_sigma(a, b)) < 1e-9);
      const MatrixXd av = lat * up.middleRows(i * 32 + 16, 16).transpose();
      CHECK(worst_gap(h.vo.sigma, dense_sigma(av, o_.middleCols(c * 16, 16))) < 1e-9);
    }
  }
}

TEST_CASE("audit layouts: a GTA or GLA layer the config does not describe is refused, naming why", "[rank]") {
  const std::string dir = test::scratch_dir("lay-gta-norope");
  write_synth_checkpoint(dir, test::planted_synth(SynthLayout::kGta, gta(), "full", "full"));
  std::string cfg = read_text_file(dir + "/config.json");
  cfg.replace(cfg.find("\"rope_dim\""), 10, "\"rope_dim_\"");
  std::ofstream(dir + "/config.json") << cfg;
  CHECK_THAT(message_of([&] { detect_layout(open_checkpoint(dir)); }),
             Catch::Contains("layer 0: a GTA layer (self_attn.kv_proj) needs the integer field 'rope_dim'"));
  const std::string gdir = test::scratch_dir("lay-gla-nonorm");
  write_synth_checkpoint(gdir, test::planted_synth(SynthLayout::kGla, gla(), "full", "full"));
  std::filesystem::rename(gdir + "/config.json", gdir + "/config.keep");
  std::string g = read_text_file(gdir + "/config.keep");
  g.replace(g.find("\"qk_rope_dim\""), 13, "\"qk_rope_di_\"");
  std::ofstream(gdir + "/config.json") << g;
  CHECK_THAT(message_of([&] { detect_layout(open_checkpoint(gdir)); }),
             Catch::Contains("needs the integer field 'qk_rope_dim'"));
}

TEST_CASE("audit layouts: the DSA indexer is audited as its own scoring circuit", "[rank]") {
  // DeepSeek-V3.2's lightning indexer on a small MLA: 2 indexer heads of d_I = 8 read the query
  // latent (q_lora 32). The index key passes a LayerNorm, whose centring P = I − 11ᵀ/8 removes
  // one direction: nominal rank d_I − 1 = 7. Planted 3 and full (7).
  AttentionShape s;
  s.variant = Variant::kMla;
  s.d_model = 96, s.heads = 3, s.kv_heads = 1, s.q_lora_rank = 32, s.kv_lora_rank = 24;
  s.qk_nope_dim = 16, s.qk_rope_dim = 8, s.v_head_dim = 16, s.index_heads = 2, s.index_head_dim = 8;
  SynthOptions o = test::planted_synth(SynthLayout::kDeepseekV3, s, "full", "full");
  o.index_rank = parse_rank_pattern("3,full", "--index-rank");
  const std::string dir = test::scratch_dir("lay-dsa");
  write_synth_checkpoint(dir, o);
  const Checkpoint ck = open_checkpoint(dir);
  CHECK(ck.architecture == "deepseek_v32");  // the reader's DeepSeek-V3.2 family
  const Layout lay = detect_layout(ck);
  const LayerLayout& x = lay.layers[0];
  CHECK(x.indexer_wq_b == "model.layers.0.self_attn.indexer.wq_b.weight");
  const AuditReport r = audit_checkpoint(ck, lay, {});
  const LayerAudit& l = r.layers[0];
  REQUIRE(l.indexer.size() == 2);
  CHECK(l.indexer[0].nominal_rank == 7);
  CHECK(l.indexer[0].metrics.numerical_rank == 3);
  CHECK(l.indexer[1].metrics.numerical_rank == 7);
  for (int64_t i = 0; i < 7; ++i) CHECK(std::abs(l.indexer[0].sigma[static_cast<size_t>(i)] - planted(i, 3)) < 1e-5);
  // Dense: (q_aᵀ·diag(γ_q)·wq_b,jᵀ)·(wkᵀ·P·diag(γ_k))ᵀ, formed in double.
  const auto& t = *ck.tensors;
  const std::string p = "model.layers.0.self_attn.";
  const MatrixD qa = t.read_matrix_d(p + "q_a_proj.weight"), wq = t.read_matrix_d(p + "indexer.wq_b.weight");
  const MatrixD wk = t.read_matrix_d(p + "indexer.wk.weight");
  const VectorXd gq = t.read_matrix_d(p + "q_a_layernorm.weight").col(0);
  const VectorXd gk = t.read_matrix_d(p + "indexer.k_norm.weight").col(0);
  const MatrixXd centre = MatrixXd::Identity(8, 8) - MatrixXd::Constant(8, 8, 1.0 / 8);
  for (int64_t j = 0; j < 2; ++j) {
    const MatrixXd a = qa.transpose() * gq.asDiagonal() * wq.middleRows(j * 8, 8).transpose();
    const MatrixXd b = wk.transpose() * centre * gk.asDiagonal();
    CHECK(worst_gap(l.indexer[static_cast<size_t>(j)].sigma, dense_sigma(a, b)) < 1e-9);
  }
  // The indexer is not part of TER, and its circuits round-trip through JSON (audit merge).
  CHECK(l.measured_ter == 3 * 16);
  const AuditReport back = audit_from_json(nlohmann::json::parse(audit_to_json(r, true).dump()), "test");
  REQUIRE(back.layers[0].indexer.size() == 2);
  CHECK(back.layers[0].indexer[1].metrics.numerical_rank == 7);
  CHECK(back.layers[0].notes == l.notes);
}

TEST_CASE("audit layouts: K = V tied, gated, sink and per-layer-geometry layers from a given model", "[rank]") {
  // Layer 0: Gemma 4's global kind, K = V tied (no v_proj), 4 heads × 16, 1 KV head, sinks.
  // Layer 1: Qwen3-Next's gated attention, 6 heads × 8 with gate rows in q_proj, 2 KV heads.
  // Layer 2: Step-3.5's head-wise gate (g_proj), 2 heads × 24 with V heads of 12.
  AttentionShape tied = test::gqa_96(4, 1, 16);
  tied.variant = Variant::kMqa;
  tied.kv_tied = true;
  tied.sinks = true;
  AttentionShape gated = test::gqa_96(6, 2, 8);
  gated.gate = OutputGate::kElementwise;
  AttentionShape headwise = test::gqa_96(2, 2, 24);
  headwise.variant = Variant::kMha;
  headwise.v_head_dim = 12;
  headwise.gate = OutputGate::kHeadwise;
  SynthOptions o = test::planted_synth(SynthLayout::kLlama, tied, "3,full", "2,full,5");
  o.layers = 3;
  o.layer_shapes = {tied, gated, headwise};
  const std::string dir = test::scratch_dir("lay-kinds");
  write_synth_checkpoint(dir, o);
  const Checkpoint ck = open_checkpoint(dir);
  // The Llama config cannot say any of this: the Llama reader's layout refuses the tied layer.
  CHECK_THAT(message_of([&] { detect_layout(ck); }), Catch::Contains("missing tensor 'model.layers.0.self_attn.v_proj.weight'"));
  const ModelDesign m = test::model_of(o.layer_shapes);
  const Layout lay = detect_layout(ck, m);
  CHECK(lay.layers[0].v_proj.empty());
  CHECK(lay.layers[0].sinks == "model.layers.0.self_attn.sinks");
  CHECK(lay.layers[1].q_proj_gated);
  CHECK(lay.layers[2].g_proj == "model.layers.2.self_attn.g_proj.weight");
  const AuditReport r = audit_checkpoint(ck, lay, {});
  const auto& t = *ck.tensors;
  for (int64_t li = 0; li < 3; ++li) {
    const AttentionShape& s = o.layer_shapes[static_cast<size_t>(li)];
    const LayerAudit& l = r.layers[static_cast<size_t>(li)];
    INFO("layer " << li);
    REQUIRE(l.heads.size() == static_cast<size_t>(s.heads));
    const int64_t h = s.head_dim, hv = s.v_head_dim > 0 ? s.v_head_dim : h, per = s.heads / s.kv_heads;
    const std::string p = fmt::format("model.layers.{}.self_attn.", li);
    const MatrixD q = t.read_matrix_d(p + "q_proj.weight"), k = t.read_matrix_d(p + "k_proj.weight");
    const MatrixD v = s.kv_tied ? k : t.read_matrix_d(p + "v_proj.weight");
    const MatrixD out = t.read_matrix_d(p + "o_proj.weight");
    const int64_t qs = s.gate == OutputGate::kElementwise ? 2 * h : h;
    for (const HeadAudit& hd : l.heads) {
      const int64_t c = hd.head, g = c / per;
      CHECK(hd.qk.nominal_rank == h);
      CHECK(hd.vo.nominal_rank == hv);
      CHECK(hd.qk.metrics.numerical_rank == o.qk_rank.rank_of(li, c, s.heads, h));
      CHECK(hd.vo.metrics.numerical_rank == o.vo_rank.rank_of(li, c, s.heads, hv));
      CHECK(worst_gap(hd.qk.sigma, dense_sigma(q.middleRows(c * qs, h).transpose(),
                                               k.middleRows(g * h, h).transpose())) < 1e-9);
      CHECK(worst_gap(hd.vo.sigma, dense_sigma(v.middleRows(g * hv, hv).transpose(),
                                               out.middleCols(c * hv, hv))) < 1e-9);
    }
    CHECK(l.measured_slsd == s.kv_heads * h);
  }
  auto has = [](const LayerAudit& l, const std::string& what) {
    for (const auto& n : l.notes)
      if (n.find(what) != std::string::npos) return true;
    return false;
  };
  CHECK(has(r.layers[0], "K = V tied"));
  CHECK(has(r.layers[0], "attention sinks"));
  CHECK(has(r.layers[1], "VO rank bounds the linear map, not the gated one"));
  CHECK(has(r.layers[2], "head-wise"));
  CHECK_FALSE(has(r.layers[1], "sinks"));
}

TEST_CASE("audit diff: MLA, GLA, GTA and MFA layers equal a dense float64 diff", "[rank]") {
  AttentionShape mla;
  mla.variant = Variant::kMla;
  mla.d_model = 96, mla.heads = 3, mla.kv_heads = 1, mla.q_lora_rank = 32, mla.kv_lora_rank = 24;
  mla.qk_nope_dim = 16, mla.qk_rope_dim = 8, mla.v_head_dim = 16;
  AttentionShape mfa;
  mfa.variant = Variant::kMfa;
  mfa.d_model = 96, mfa.heads = 3, mfa.kv_heads = 1, mfa.head_dim = 16, mfa.q_share_dim = 32;
  struct Case { const char* label; SynthLayout layout; AttentionShape shape; };
  for (const Case& k : {Case{"mla", SynthLayout::kDeepseekV3, mla}, Case{"gla", SynthLayout::kGla, gla()},
                        Case{"gta", SynthLayout::kGta, gta()}, Case{"mfa-kr", SynthLayout::kMfaKr, mfa}}) {
    INFO(k.label);
    // A: F32 planted at full rank; B: its BF16 copy (a release and its rounded copy): every
    // circuit moves a little, through its down-projections as well.
    SynthOptions oa = test::planted_synth(k.layout, k.shape, "full", "full"), ob = oa;
    ob.dtype = "BF16";
    const std::string a = test::scratch_dir("diff-lay"), b = test::scratch_dir("diff-lay");
    write_synth_checkpoint(a, oa);
    write_synth_checkpoint(b, ob);
    const Checkpoint ca = open_checkpoint(a), cb = open_checkpoint(b);
    const Layout la = detect_layout(ca), lb = detect_layout(cb);
    const AuditDiffReport r = diff_checkpoints(ca, la, cb, lb, {});
    REQUIRE(r.layers.size() == 2);
    // Dense circuits: every factor formed in d-space from the decoded weights, in double.
    auto circuits = [](const Checkpoint& ck, const LayerLayout& y, int64_t c) {
      const auto& t = *ck.tensors;
      const AttentionShape& s = y.shape;
      auto rows = [&](const std::string& n, int64_t r0, int64_t w) -> MatrixXd {
        return t.read_matrix_d(n).middleRows(r0, w).transpose();
      };
      auto col = [&](const std::string& n) -> VectorXd { return t.read_matrix_d(n).col(0); };
      MatrixXd q, kk, v, o, rope;  // rope: the RoPE circuit (empty for MFA-KR)
      if (y.kind == LayoutKind::kGta) {
        const int64_t h = s.head_dim, tied = h - s.qk_rope_dim, g = c / 2;
        q = rows(y.q_proj, c * h, tied), kk = rows(y.kv_proj, g * h, tied), v = rows(y.kv_proj, g * h, h);
        o = t.read_matrix_d(y.o_proj).middleCols(c * h, h);
        rope = rows(y.q_proj, c * h + tied, s.qk_rope_dim) * rows(y.k_rope_proj, 0, s.qk_rope_dim).transpose();
      } else if (y.kind == LayoutKind::kMfaKr) {
        const int64_t C = s.head_dim;
        q = rows(y.q_proj, 0, 32) * col(y.inter_norm).asDiagonal() * rows(y.wq, c * C, C);
        kk = rows(y.k_proj, 0, C);
        const MatrixXd n = t.read_matrix_d(y.kr_n);
        v = kk * (MatrixXd::Identity(C, C) + col(y.kr_alpha).asDiagonal() * n).transpose();
        o = t.read_matrix_d(y.o_proj).middleCols(c * C, C);
      } else {
        const int64_t per = s.heads / s.kv_heads, g = c / per, C = s.kv_lora_rank;
        const MatrixXd qa = rows(y.q_a_proj, 0, 32) * col(y.q_a_layernorm).asDiagonal();
        q = qa * rows(y.q_b_proj, c * 24, 16);
        // The query's 8 RoPE rows after its 16 nope rows, against the key rows after all latents.
        rope = qa * rows(y.q_b_proj, c * 24 + 16, 8) * rows(y.kv_a_proj_with_mqa, s.kv_heads * C, 8).transpose();
        VectorXd gamma;
        MatrixXd up;
        if (y.kv_b_projs.empty()) {
          gamma = col(y.kv_a_layernorm).segment(g * C, C);
          up = t.read_matrix_d(y.kv_b_proj).middleRows(c * 32, 32);
        } else {
          gamma = col(y.kv_a_layernorms[static_cast<size_t>(g)]);
          up = t.read_matrix_d(y.kv_b_projs[static_cast<size_t>(g)]).middleRows((c % per) * 32, 32);
        }
        const MatrixXd lat = rows(y.kv_a_proj_with_mqa, g * C, C) * gamma.asDiagonal();
        kk = lat * up.topRows(16).transpose(), v = lat * up.bottomRows(16).transpose();
        o = t.read_matrix_d(y.o_proj).middleCols(c * 16, 16);
      }
      return std::array<MatrixXd, 3>{q * kk.transpose(), v * o.transpose(), rope};
    };
    int checked = 0;
    for (const auto& l : r.layers) {
      for (const auto& h : l.heads) {
        const auto da = circuits(ca, la.layers[static_cast<size_t>(l.layer)], h.head);
        const auto db = circuits(cb, lb.layers[static_cast<size_t>(l.layer)], h.head);
        CHECK(h.qk_rope.has_value() == (da[2].size() > 0));
        for (const int which : {0, 1, 2}) {
          if (which == 2 && !h.qk_rope) continue;
          INFO("layer " << l.layer << " head " << h.head << " circuit " << which);
          const CircuitDiff& c = which == 0 ? h.qk : which == 1 ? h.vo : *h.qk_rope;
          const MatrixXd &wa = da[static_cast<size_t>(which)], &wb = db[static_cast<size_t>(which)];
          Eigen::BDCSVD<MatrixXd> e(wb - wa);
          CHECK(std::abs(c.change_rel - e.singularValues()(0) / c.a.sigma_1) < 1e-9);
          Eigen::BDCSVD<MatrixXd> sa(wa, Eigen::ComputeThinU | Eigen::ComputeThinV);
          CHECK(std::abs(c.a.sigma_1 - sa.singularValues()(0)) < 1e-9);
          if (c.b_rank_short) {
            CHECK(c.max_angle_deg() == 90.0);
          } else {
            Eigen::BDCSVD<MatrixXd> sb(wb, Eigen::ComputeThinU | Eigen::ComputeThinV);
            const Eigen::Index rr = c.r;
            Eigen::JacobiSVD<MatrixXd> cl(sa.matrixU().leftCols(rr).transpose() * sb.matrixU().leftCols(rr));
            Eigen::JacobiSVD<MatrixXd> cr(sa.matrixV().leftCols(rr).transpose() * sb.matrixV().leftCols(rr));
            CHECK(std::abs(c.left_angle_deg - kDeg * std::acos(std::min(1.0, cl.singularValues().minCoeff()))) < 1e-5);
            CHECK(std::abs(c.right_angle_deg - kDeg * std::acos(std::min(1.0, cr.singularValues().minCoeff()))) < 1e-5);
          }
          ++checked;
        }
      }
    }
    // QK and VO of every head, and the RoPE circuit of every MLA, GLA and GTA head.
    CHECK(checked == (k.layout == SynthLayout::kMfaKr ? 2 : 3) * 2 * k.shape.heads);
  }
}
