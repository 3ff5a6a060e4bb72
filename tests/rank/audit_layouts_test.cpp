// Audit layouts beyond the MFA paper's (docs/audit.md, "Layouts"): GTA and GLA in their reference
// code's tensor names (SLSD_head < SLSD_layer for GLA), the DSA indexer as its own scoring
// circuit, K = V tied heads, output gates, sinks and per-layer geometry, each from a planted-rank
// synth checkpoint, with spectra checked against a dense float64 SVD of the formed circuits; and
// `audit diff` on MLA, GLA, GTA and MFA against a dense float64 diff.
#include <catch2/catch.hpp>

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

SynthOptions synth(SynthLayout layout, const AttentionShape& s, const char* qk, const char* vo) {
  SynthOptions o;
  o.layout = layout;
  o.shape = s;
  o.layers = 2;
  o.dtype = "F32";
  o.seed = 11;
  o.qk_rank = parse_rank_pattern(qk, "--qk-rank");
  o.vo_rank = parse_rank_pattern(vo, "--vo-rank");
  return o;
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
AttentionShape gqa(int64_t heads, int64_t kv, int64_t h) {
  AttentionShape s;
  s.variant = Variant::kGqa;
  s.d_model = 96, s.heads = heads, s.kv_heads = kv, s.head_dim = h;
  return s;
}
ModelDesign model_of(const std::vector<AttentionShape>& shapes) {
  ModelDesign m;
  m.name = "planted";
  m.d_model = shapes[0].d_model;
  for (const auto& s : shapes) {
    LayerSpec l;
    l.attention = s;
    m.layers.push_back(l);
  }
  return m;
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
  write_synth_checkpoint(dir, synth(SynthLayout::kGta, gta(), "2,full,5,1", "full,3"));
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
    SynthOptions o = synth(SynthLayout::kGla, gla(), "1,full,3,2", "full,2,1");
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
  write_synth_checkpoint(dir, synth(SynthLayout::kGta, gta(), "full", "full"));
  std::string cfg = read_text_file(dir + "/config.json");
  cfg.replace(cfg.find("\"rope_dim\""), 10, "\"rope_dim_\"");
  std::ofstream(dir + "/config.json") << cfg;
  CHECK_THAT(message_of([&] { detect_layout(open_checkpoint(dir)); }),
             Catch::Contains("layer 0: a GTA layer (self_attn.kv_proj) needs the integer field 'rope_dim'"));
  const std::string gdir = test::scratch_dir("lay-gla-nonorm");
  write_synth_checkpoint(gdir, synth(SynthLayout::kGla, gla(), "full", "full"));
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
  SynthOptions o = synth(SynthLayout::kDeepseekV3, s, "full", "full");
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
  AttentionShape tied = gqa(4, 1, 16);
  tied.variant = Variant::kMqa;
  tied.kv_tied = true;
  tied.sinks = true;
  AttentionShape gated = gqa(6, 2, 8);
  gated.gate = OutputGate::kElementwise;
  AttentionShape headwise = gqa(2, 2, 24);
  headwise.variant = Variant::kMha;
  headwise.v_head_dim = 12;
  headwise.gate = OutputGate::kHeadwise;
  SynthOptions o = synth(SynthLayout::kLlama, tied, "3,full", "2,full,5");
  o.layers = 3;
  o.layer_shapes = {tied, gated, headwise};
  const std::string dir = test::scratch_dir("lay-kinds");
  write_synth_checkpoint(dir, o);
  const Checkpoint ck = open_checkpoint(dir);
  // The Llama config cannot say any of this: the Llama reader's layout refuses the tied layer.
  CHECK_THAT(message_of([&] { detect_layout(ck); }), Catch::Contains("missing tensor 'model.layers.0.self_attn.v_proj.weight'"));
  const ModelDesign m = model_of(o.layer_shapes);
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
    SynthOptions oa = synth(k.layout, k.shape, "full", "full"), ob = oa;
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
      MatrixXd q, kk, v, o;
      if (y.kind == LayoutKind::kGta) {
        const int64_t h = s.head_dim, tied = h - s.qk_rope_dim, g = c / 2;
        q = rows(y.q_proj, c * h, tied), kk = rows(y.kv_proj, g * h, tied), v = rows(y.kv_proj, g * h, h);
        o = t.read_matrix_d(y.o_proj).middleCols(c * h, h);
      } else if (y.kind == LayoutKind::kMfaKr) {
        const int64_t C = s.head_dim;
        q = rows(y.q_proj, 0, 32) * col(y.inter_norm).asDiagonal() * rows(y.wq, c * C, C);
        kk = rows(y.k_proj, 0, C);
        const MatrixXd n = t.read_matrix_d(y.kr_n);
        v = kk * (MatrixXd::Identity(C, C) + col(y.kr_alpha).asDiagonal() * n).transpose();
        o = t.read_matrix_d(y.o_proj).middleCols(c * C, C);
      } else {
        const int64_t per = s.heads / s.kv_heads, g = c / per, C = s.kv_lora_rank;
        q = rows(y.q_a_proj, 0, 32) * col(y.q_a_layernorm).asDiagonal() * rows(y.q_b_proj, c * 24, 16);
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
      return std::pair<MatrixXd, MatrixXd>{q * kk.transpose(), v * o.transpose()};
    };
    int checked = 0;
    for (const auto& l : r.layers) {
      for (const auto& h : l.heads) {
        const auto [qa, va] = circuits(ca, la.layers[static_cast<size_t>(l.layer)], h.head);
        const auto [qb, vb] = circuits(cb, lb.layers[static_cast<size_t>(l.layer)], h.head);
        for (const bool qk : {true, false}) {
          INFO("layer " << l.layer << " head " << h.head << (qk ? " qk" : " vo"));
          const CircuitDiff& c = qk ? h.qk : h.vo;
          const MatrixXd &wa = qk ? qa : va, &wb = qk ? qb : vb;
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
    CHECK(checked == 2 * 2 * k.shape.heads);
  }
}

TEST_CASE("audit layouts: a KDA layer's query and key factors, rank <= d_k, apart from the circuits", "[rank]") {
  // Kimi-Linear alternates KDA and MLA layers; here a GQA layer and a KDA layer of 4 heads with
  // d_k = 16 (q_proj, k_proj [64, 96]), planted query ranks 5, full and key ranks 2, 9.
  AttentionShape kda;
  kda.variant = Variant::kLinear;
  kda.recurrent = RecurrentKind::kKda;
  kda.d_model = 96, kda.heads = 4, kda.kv_heads = 4, kda.head_dim = 16, kda.state_value_dim = 16;
  kda.conv_kernel = 4;
  SynthOptions o = synth(SynthLayout::kLlama, gqa(4, 2, 16), "full", "full");
  o.layer_shapes = {gqa(4, 2, 16), kda};
  o.recurrent_q_rank = parse_rank_pattern("5,full", "q");
  o.recurrent_k_rank = parse_rank_pattern("2,9", "k");
  const std::string dir = test::scratch_dir("lay-kda");
  write_synth_checkpoint(dir, o);
  const Checkpoint ck = open_checkpoint(dir);
  const Layout lay = detect_layout(ck, model_of(o.layer_shapes));
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
    SynthOptions o = synth(SynthLayout::kLlama, gqa(4, 2, 16), "full", "full");
    o.layer_shapes = {gqa(4, 2, 16), gdn};
    o.recurrent_q_rank = parse_rank_pattern("5,full", "q");
    o.recurrent_k_rank = parse_rank_pattern("3,11", "k");
    o.gdn_qkvz = qkvz;
    const std::string dir = test::scratch_dir("lay-gdn");
    write_synth_checkpoint(dir, o);
    const Checkpoint ck = open_checkpoint(dir);
    const Layout lay = detect_layout(ck, model_of(o.layer_shapes));
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
  AttentionShape m2;
  m2.variant = Variant::kLinear;
  m2.recurrent = RecurrentKind::kMamba2;
  m2.d_model = 96, m2.heads = 8, m2.kv_heads = 8, m2.head_dim = 8, m2.inner = 64;
  m2.key_heads = 2, m2.state_value_dim = 16, m2.conv_kernel = 4;
  SynthOptions o = synth(SynthLayout::kLlama, gqa(4, 2, 16), "full", "full");
  o.layer_shapes = {m2, gqa(4, 2, 16)};
  o.recurrent_q_rank = parse_rank_pattern("5,full", "q");
  o.recurrent_k_rank = parse_rank_pattern("3,11", "k");
  const std::string dir = test::scratch_dir("lay-mamba2");
  write_synth_checkpoint(dir, o);
  const Checkpoint ck = open_checkpoint(dir);
  const Layout lay = detect_layout(ck, model_of(o.layer_shapes));
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
  std::mt19937_64 rng(7);
  std::normal_distribution<double> gauss;
  auto random = [&](Eigen::Index r, Eigen::Index c) {
    MatrixXd m(r, c);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = gauss(rng);
    return m;
  };
  MatrixXd in_proj = random(100, 32);
  in_proj.middleRows(64, 8) = random(8, 3) * random(3, 32);
  in_proj.middleRows(80, 8) = random(8, 2) * random(2, 32);
  auto tensor = [](const std::string& name, const MatrixXd& m) {
    return TensorToWrite{name, "F32", {m.rows(), m.cols()}, [m](std::span<float> v) {
      for (Eigen::Index i = 0; i < m.rows(); ++i)
        for (Eigen::Index j = 0; j < m.cols(); ++j) v[static_cast<size_t>(i * m.cols() + j)] = static_cast<float>(m(i, j));
    }};
  };
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
