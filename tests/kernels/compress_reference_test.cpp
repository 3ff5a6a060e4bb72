// CSA / HCA with DeepSeek-V4's compressor (docs/kernels.md, "CSA/HCA: V4's compressor";
// src/kernels/compress_reference.cpp): prefill and decode agree to 1e-12, a plain-loop
// re-derivation (sharing no code with the source) matches every output row, s = 1 is attention
// over the normalised wkv K/V (against the shared-cache reference), hand-worked entries (the
// plain block mean, a per-channel gate, the overlap's halves), and the overlap's dependence on
// the previous block.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/core/error.hpp"
#include "gmha/kernels/compare.hpp"
#include "gmha/kernels/fill_rule.hpp"
#include "gmha/kernels/reference.hpp"
#include "gmha/kernels/validate.hpp"
#include "kernels/inputs.hpp"

using namespace gmha;
using gmha::test::random_input;

namespace {

LayerSpec layer_of(const std::string& spec) { return parse_design_spec(spec).layers.at(0); }

// The spec's compression as options: s, w, CSA's top-k; the compressor from the weights.
LayerOptions v4_opts(const LayerSpec& l, bool rope) {
  LayerOptions o;
  o.rope.enabled = rope;
  o.rope.theta = 100.0;  // every pair rotates visibly over a few tokens
  o.sparse.compress.stride = l.span.ratio;
  o.sparse.compress.window = l.span.window;
  o.sparse.compress.entry_topk = l.span.tokens;
  return o;
}

double rel(const MatrixRM& a, const MatrixRM& b) { return compare(a, b).rel_error; }

// Every output row by plain loops from the formulas of docs/kernels.md (no sinks, gates, biases
// or q/k norms): entries pooled per channel over their candidates, RMSNorm, RoPE of each head's
// K part at the block's first position; one softmax over the entries read and the window.
MatrixRM plain_v4(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o) {
  const AttentionShape& s = w.shape;
  const int64_t T = x.rows(), hd = s.head_dim, g = s.kv_heads, n = s.heads, per = n / g;
  const int64_t W = 2 * g * hd, st = o.sparse.compress.stride, win = o.sparse.compress.window;
  const int64_t topk = o.sparse.compress.entry_topk;
  const MatrixRM& wkv = w.at("compressor.wkv");
  const MatrixRM& wg = w.at("compressor.wgate");
  const MatrixRM& ape = w.at("compressor.ape");  // [s c W, 1]: row r of V4's [s, c W] at r c W
  const MatrixRM& gam = w.at("compressor.norm");
  const int64_t c = wkv.rows() / W;
  const RopeTable rt = resolve_rope(o.rope, hd, T);
  const MatrixRM q = x * w.at("q_proj").transpose(), k = x * w.at("k_proj").transpose();
  const MatrixRM v = x * w.at("v_proj").transpose();
  const MatrixRM kv = x * wkv.transpose(), z = x * wg.transpose();
  std::vector<std::vector<double>> ent;
  for (int64_t b = 0; (b + 1) * st <= T; ++b) {
    std::vector<double> e(static_cast<size_t>(W));
    for (int64_t ch = 0; ch < W; ++ch) {
      std::vector<double> vals, logits;
      for (int64_t j = (c == 2 ? (b - 1) * st : b * st); j < (b + 1) * st; ++j) {
        if (j < 0) continue;
        const int64_t col = (c == 2 && j >= b * st) ? W + ch : ch;  // this block: the second half
        vals.push_back(kv(j, col));
        logits.push_back(z(j, col) + ape((j % st) * c * W + col, 0));
      }
      const double m = *std::max_element(logits.begin(), logits.end());
      double num = 0, den = 0;
      for (size_t r = 0; r < vals.size(); ++r) {
        num += std::exp(logits[r] - m) * vals[r];
        den += std::exp(logits[r] - m);
      }
      e[static_cast<size_t>(ch)] = num / den;
    }
    double ms = 0;
    for (double u : e) ms += u * u / static_cast<double>(W);
    for (int64_t ch = 0; ch < W; ++ch) e[static_cast<size_t>(ch)] *= gam(ch, 0) / std::sqrt(ms + o.norm_eps);
    for (int64_t h = 0; h < g; ++h) apply_rope(rt, b * st, e.data() + h * hd);
    ent.push_back(e);
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  MatrixRM y = MatrixRM::Zero(T, s.d_model);
  for (int64_t i = 0; i < T; ++i) {
    Eigen::VectorXd heads(n * hd);
    for (int64_t h = 0; h < n; ++h) {
      const int64_t grp = h / per;
      std::vector<double> qi(q.row(i).data() + h * hd, q.row(i).data() + (h + 1) * hd);
      apply_rope(rt, i, qi.data());
      // Candidates: (score, value row pointer) for entries read and window tokens.
      std::vector<double> sc;
      std::vector<std::vector<double>> vv;
      std::vector<std::pair<double, int64_t>> es;
      for (int64_t b = 0; b < (i + 1) / st; ++b) {
        double d = 0;
        for (int64_t u = 0; u < hd; ++u) d += qi[static_cast<size_t>(u)] * ent[static_cast<size_t>(b)][static_cast<size_t>(grp * hd + u)];
        es.push_back({d * scale, b});
      }
      std::stable_sort(es.begin(), es.end(), [](auto& a, auto& b2) { return a.first > b2.first; });
      if (topk > 0 && static_cast<int64_t>(es.size()) > topk) es.resize(static_cast<size_t>(topk));
      for (auto& [scv, b] : es) {
        sc.push_back(scv);
        const auto& e = ent[static_cast<size_t>(b)];
        vv.emplace_back(e.begin() + g * hd + grp * hd, e.begin() + g * hd + (grp + 1) * hd);
      }
      for (int64_t j = std::max<int64_t>(0, i - win + 1); j <= i && win > 0; ++j) {
        std::vector<double> kj(k.row(j).data() + grp * hd, k.row(j).data() + (grp + 1) * hd);
        apply_rope(rt, j, kj.data());
        double d = 0;
        for (int64_t u = 0; u < hd; ++u) d += qi[static_cast<size_t>(u)] * kj[static_cast<size_t>(u)];
        sc.push_back(d * scale);
        vv.emplace_back(v.row(j).data() + grp * hd, v.row(j).data() + (grp + 1) * hd);
      }
      heads.segment(h * hd, hd).setZero();
      if (sc.empty()) continue;
      const double m = *std::max_element(sc.begin(), sc.end());
      double den = 0;
      for (double u : sc) den += std::exp(u - m);
      for (size_t r = 0; r < sc.size(); ++r) {
        for (int64_t u = 0; u < hd; ++u) heads(h * hd + u) += std::exp(sc[r] - m) / den * vv[r][static_cast<size_t>(u)];
      }
    }
    y.row(i) = (w.at("o_proj") * heads).transpose();
  }
  return y;
}

const char* kHca = "gqa:d=16,heads=4,kv=2,hd=4,compress=3,window=4";
const char* kCsa = "gqa:d=16,heads=4,kv=2,hd=4,compress=3,window=4,topk=2,index_heads=2,index_dim=4";

// A one-head layer d = 2, h = 2 (W = 4: K then V), o_proj = I, q/k/v projections = I, window 0:
// query i's output is the V part of the entries it reads.
LayerWeights tiny_layer(const std::string& extra, int64_t c) {
  LayerWeights w = random_layer_weights(layer_of("mha:d=2,heads=1,hd=2,compress=2" + extra), 1);
  for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj"}) w.tensors[n] = MatrixRM::Identity(2, 2);
  w.tensors["compressor.wgate"] = MatrixRM::Zero(4 * c, 2);
  w.tensors["compressor.ape"] = MatrixRM::Zero(2 * 4 * c, 1);
  w.tensors["compressor.norm"] = MatrixRM::Ones(4, 1);
  return w;
}

}  // namespace

TEST_CASE("V4 compressor: prefill and decode agree, and match plain loops (HCA, CSA, with and without RoPE)",
          "[kernels][compress]") {
  const int64_t T = 14;  // not a multiple of s = 3
  for (const char* spec : {kHca, kCsa}) {
    const LayerSpec l = layer_of(spec);
    const LayerWeights w = random_layer_weights(l, 3);
    REQUIRE(has_v4_compressor(w));
    REQUIRE(w.at("compressor.wkv").rows() == (l.span.tokens > 0 ? 2 : 1) * 16);
    const MatrixRM x = random_input(T, 16, 4);
    for (bool rope : {false, true}) {
      INFO(spec << " rope " << rope);
      const LayerOptions o = v4_opts(l, rope);
      DecodeCacheStats st;
      const MatrixRM pre = reference_forward(w, x, o, AttentionForm::kPrefill);
      const MatrixRM dec = reference_forward(w, x, o, AttentionForm::kDecode, &st);
      CHECK(rel(dec, pre) < 1e-12);
      CHECK(rel(plain_v4(w, x, o), pre) < 1e-12);
      // The cache: the last w = 4 raw tokens and floor(14 / 3) = 4 entries, each W = 16 wide.
      CHECK(st.tokens == T);
      CHECK(st.elements_per_token == 16);
      CHECK(st.elements == (4 + 4) * 16);
      // Not the pooled frame: without the compressor the same options pool the layer's keys.
      LayerWeights pooled = w;
      for (const char* n : {"compressor.wkv", "compressor.wgate", "compressor.ape", "compressor.norm"}) pooled.tensors.erase(n);
      CHECK(rel(reference_forward(pooled, x, o, AttentionForm::kPrefill), pre) > 1e-3);
    }
  }
}

TEST_CASE("V4 compressor: sinks, gates, biases, q/k norms and given entry scores compose (prefill == decode)",
          "[kernels][compress]") {
  const int64_t T = 13;
  for (const char* spec : {"gqa:d=16,heads=4,kv=2,hd=4,bias=1,sinks=1,gate=elem,compress=4,window=2",
                           "gqa:d=16,heads=4,kv=2,hd=4,sinks=1,gate=head,compress=4,window=3,topk=1,index_heads=2,index_dim=4",
                           "mqa:d=12,heads=3,hd=4,compress=2,window=1,topk=2,index_heads=1,index_dim=4"}) {
    const LayerSpec l = layer_of(spec);
    LayerWeights w = random_layer_weights(l, 5);
    w.tensors["q_norm"] = MatrixRM::Constant(4, 1, 1.1);
    w.tensors["k_norm"] = MatrixRM::Constant(4, 1, 0.9);
    const MatrixRM x = random_input(T, l.attention.d_model, 6);
    for (bool scores : {false, true}) {
      INFO(spec << " entry scores " << scores);
      LayerOptions o = v4_opts(l, true);
      if (scores) o.sparse.compress.entry_scores = random_input(T, T, 7);
      const MatrixRM pre = reference_forward(w, x, o, AttentionForm::kPrefill);
      CHECK(rel(reference_forward(w, x, o, AttentionForm::kDecode), pre) < 1e-12);
    }
  }
}

TEST_CASE("V4 compressor: s = 1 is attention over the normalised wkv keys and values", "[kernels][compress]") {
  // With one token per block the softmax has one candidate: entry b = gamma . (wkv x_b) f_b,
  // f_b = 1 / sqrt(mean((wkv x_b)^2) + eps), roped at b. That is a reader over an owner whose
  // k_proj/v_proj are gamma-scaled rows of wkv, fed x'_b = f_b x_b (the shared-cache reference).
  const LayerSpec l = layer_of("gqa:d=12,heads=4,kv=2,hd=4,sinks=1,gate=head,compress=2");
  LayerWeights w = random_layer_weights(l, 8);
  w.tensors["compressor.ape"] = random_input(16, 1, 9);  // s = 1: [1 * W, 1]
  const MatrixRM x = random_input(11, 12, 10);
  const MatrixRM& wkv = w.at("compressor.wkv");
  const Eigen::VectorXd gam = w.at("compressor.norm").reshaped();
  LayerOptions o = v4_opts(l, true);
  o.sparse.compress.stride = 1;
  o.sparse.compress.window = 0;
  AttentionShape os = l.attention;
  os.heads = os.kv_heads;
  os.variant = Variant::kMha;
  os.sinks = false;
  os.gate = OutputGate::kNone;
  LayerWeights owner = random_layer_weights(os, 11);
  owner.tensors["k_proj"] = gam.head(8).asDiagonal() * wkv.topRows(8);
  owner.tensors["v_proj"] = gam.tail(8).asDiagonal() * wkv.bottomRows(8);
  MatrixRM xo = x;
  for (int64_t b = 0; b < x.rows(); ++b) {
    const Eigen::VectorXd p = wkv * x.row(b).transpose();
    xo.row(b) *= 1.0 / std::sqrt(p.squaredNorm() / 16.0 + o.norm_eps);
  }
  LayerOptions dense;
  dense.rope = o.rope;
  const MatrixRM want = reference_forward_shared(w, owner, x, xo, dense, AttentionForm::kPrefill);
  CHECK(rel(reference_forward(w, x, o, AttentionForm::kPrefill), want) < 1e-12);
  CHECK(rel(reference_forward(w, x, o, AttentionForm::kDecode), want) < 1e-12);
}

TEST_CASE("V4 compressor: hand-worked entries (block mean, a per-channel gate, the overlap's halves)",
          "[kernels][compress]") {
  const double eps = 1e-6;
  LayerOptions o;
  o.rope.enabled = false;
  o.norm_eps = eps;
  o.sparse.compress.stride = 2;
  for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode}) {
    INFO(form_name(f));
    // HCA, s = 2, x_0 = e_0, x_1 = e_1: wkv x_j is column j, the block mean is [2, 2, 2, 2].
    LayerWeights w = tiny_layer("", 1);
    w.tensors["compressor.wkv"] = (MatrixRM(4, 2) << 1, 3, 2, 2, 0, 4, 4, 0).finished();
    w.tensors["compressor.norm"] = (MatrixRM(4, 1) << 1, 1, 0.5, 3).finished();
    const MatrixRM x = MatrixRM::Identity(2, 2);
    MatrixRM y = reference_forward(w, x, o, f);
    // Query 0 reads nothing (no complete block, no window); query 1 reads entry 0 alone:
    // gamma . [2, 2, 2, 2] / sqrt(4 + eps), V part [0.5, 3] * 2 / sqrt(4 + eps).
    CHECK(y.row(0).norm() == 0.0);
    CHECK(std::abs(y(1, 0) - 0.5 * 2 / std::sqrt(4 + eps)) < 1e-12);
    CHECK(std::abs(y(1, 1) - 3.0 * 2 / std::sqrt(4 + eps)) < 1e-12);
    // A gate on channel 2 (V's first): logits ln 3 and 0 weigh tokens 0, 1 by 3/4, 1/4, so the
    // channel is 0 * 3/4 + 4 * 1/4 = 1: pooled [2, 2, 1, 2], mean square 13/4. Given by wgate
    // (x_0 = e_0 reads its column 0) or by ape (row j mod s of [s, W]) alike.
    for (bool by_ape : {false, true}) {
      LayerWeights wg = w;
      if (by_ape) {
        wg.tensors["compressor.ape"](2, 0) = std::log(3.0);  // ape[0][2]
      } else {
        wg.tensors["compressor.wgate"](2, 0) = std::log(3.0);
      }
      y = reference_forward(wg, x, o, f);
      const double fac = 1.0 / std::sqrt(13.0 / 4 + eps);
      CHECK(std::abs(y(1, 0) - 0.5 * 1 * fac) < 1e-12);
      CHECK(std::abs(y(1, 1) - 3.0 * 2 * fac) < 1e-12);
    }
    // CSA (c = 2): wkv = [A; B], A the first half (the next block's look-back), B the second.
    // Entry 0 = mean of B over tokens 0, 1; entry 1 = mean of A over tokens 0, 1 and of B over
    // tokens 2, 3 (4 candidates per channel). x = [e_0, e_1, 2 e_0, 2 e_1].
    LayerWeights wc = tiny_layer(",topk=1,index_heads=1,index_dim=2", 2);
    wc.tensors["compressor.wkv"] = (MatrixRM(8, 2) << 1, 1, 0, 2, 2, 2, 1, 1,  // A: row sums 2 2 4 2
                                    1, 0, 0, 1, 1, 1, 3, 0)                     // B: row sums 1 1 2 3
                                       .finished();
    const MatrixRM xc = (MatrixRM(4, 2) << 1, 0, 0, 1, 2, 0, 0, 2).finished();
    LayerOptions oc = o;
    oc.sparse.compress.entry_topk = 1;
    oc.sparse.compress.entry_scores = (MatrixRM(4, 2) << 0, 0, 0, 0, 0, 0, 0, 1).finished();  // query 3: entry 1
    y = reference_forward(wc, xc, oc, f);
    // Entry 0: B means [0.5, 0.5, 1, 1.5], mean square 0.9375; read alone by queries 1 and 2.
    const double f0 = 1.0 / std::sqrt(0.9375 + eps);
    for (int64_t i : {1, 2}) {
      CHECK(std::abs(y(i, 0) - 1.0 * f0) < 1e-12);
      CHECK(std::abs(y(i, 1) - 1.5 * f0) < 1e-12);
    }
    // Entry 1: (A sums + 2 B sums) / 4 = [1, 1, 2, 2], mean square 2.5; V part [2, 2].
    const double f1 = 1.0 / std::sqrt(2.5 + eps);
    CHECK(std::abs(y(3, 0) - 2.0 * f1) < 1e-12);
    CHECK(std::abs(y(3, 1) - 2.0 * f1) < 1e-12);
  }
}

TEST_CASE("V4 compressor: with overlap an entry depends on the previous block, without it does not",
          "[kernels][compress]") {
  // s = 2, window 1, T = 4; query 3 reads token 3 raw and (top-1 by the given scores) entry 1,
  // whose block is tokens 2, 3. A change of token 0 (block 0) reaches it only through overlap.
  for (bool overlap : {false, true}) {
    const LayerSpec l = layer_of(overlap ? "gqa:d=8,heads=2,kv=1,hd=4,compress=2,window=1,topk=1,index_heads=1,index_dim=4"
                                         : "gqa:d=8,heads=2,kv=1,hd=4,compress=2,window=1");
    const LayerWeights w = random_layer_weights(l, 12);
    LayerOptions o = v4_opts(l, true);
    o.sparse.compress.entry_topk = 1;
    o.sparse.compress.entry_scores = (MatrixRM(4, 2) << 0, 0, 0, 0, 0, 0, 0, 1).finished();
    const MatrixRM x = random_input(4, 8, 13);
    MatrixRM x2 = x;
    x2.row(0) *= -2.0;
    for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode}) {
      INFO("overlap " << overlap << " " << form_name(f));
      const double diff = (reference_forward(w, x2, o, f).row(3) - reference_forward(w, x, o, f).row(3)).norm();
      if (overlap) {
        CHECK(diff > 1e-6);
      } else {
        CHECK(diff == 0.0);
      }
    }
  }
}

TEST_CASE("V4 compressor: a layer reading its own compressed cache is the plain layer", "[kernels][compress]") {
  // reference_forward_shared takes the owner's compressor (on the owner's x') and indexer keys.
  const LayerSpec l = layer_of("gqa:d=16,heads=4,kv=2,hd=4,sinks=1,compress=3,window=2,topk=2,index_heads=2,index_dim=4");
  const LayerWeights w = random_layer_weights(l, 19);
  const MatrixRM x = random_input(10, 16, 20);
  const LayerOptions o = v4_opts(l, true);
  for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode}) {
    INFO(form_name(f));
    CHECK(rel(reference_forward_shared(w, w, x, x, o, f), reference_forward(w, x, o, f)) < 1e-12);
  }
}

TEST_CASE("V4 compressor: the bilinear form is refused, bad compressors are one-line InputErrors",
          "[kernels][compress]") {
  const LayerSpec l = layer_of(kCsa);
  const LayerWeights w = random_layer_weights(l, 14);
  const MatrixRM x = random_input(7, 16, 15);
  const LayerOptions o = v4_opts(l, true);
  CHECK_THROWS_WITH(reference_forward(w, x, o, AttentionForm::kBilinear),
                    Catch::Contains("outside the bilinear GMHA form"));
  LayerOptions og = o;
  og.sparse.compress.ape = {0.1, 0.2, 0.3};
  CHECK_THROWS_WITH(reference_forward(w, x, og, AttentionForm::kPrefill), Catch::Contains("compress"));
  LayerWeights bad = w;
  bad.tensors["compressor.ape"] = MatrixRM::Zero(5, 1);
  CHECK_THROWS_WITH(reference_forward(bad, x, o, AttentionForm::kPrefill), Catch::Contains("compressor.ape"));
  bad = w;
  bad.tensors["compressor.wkv"] = MatrixRM::Zero(3, 16);
  CHECK_THROWS_WITH(reference_forward(bad, x, o, AttentionForm::kDecode), Catch::Contains("compressor.wkv"));
  bad = w;
  bad.tensors.erase("compressor.norm");
  CHECK_THROWS_WITH(reference_forward(bad, x, o, AttentionForm::kPrefill), Catch::Contains("compressor.norm"));
}

TEST_CASE("V4 compressor: the fill rule takes it from the weights and gmha validate runs V4's form",
          "[kernels][compress]") {
  const LayerSpec l = layer_of(kCsa);
  const LayerWeights w = random_layer_weights(l, 16);
  const MatrixRM x = random_input(9, 16, 17);
  LayerOptions o;
  apply_fill_rule(l.span, w, x, o, 18);
  CHECK(o.sparse.compress.stride == 3);
  CHECK(o.sparse.compress.window == 4);
  CHECK(o.sparse.compress.entry_topk == 2);
  CHECK(o.sparse.compress.gate.size() == 0);  // the compressor's, not a seeded gate
  // A layer without compressor.* (weights of its shape only) still gets the pooled frame's gate.
  LayerOptions op;
  apply_fill_rule(l.span, random_layer_weights(l.attention, 16), x, op, 18);
  CHECK(op.sparse.compress.gate.rows() == 1);

  ValidateOptions vo;
  vo.tokens = 13;
  vo.designs = {"gqa:d=32,heads=4,kv=2,hd=8,compress=4,window=8",
                "gqa:d=32,heads=4,kv=2,hd=8,compress=4,window=8,topk=2,index_heads=2,index_dim=8"};
  const std::vector<ValidationRow> rows = run_validation(vo);
  REQUIRE(rows.size() == 2);  // decode vs prefill for each; no bilinear row
  for (const ValidationRow& r : rows) {
    INFO(r.design << ": " << r.check << " " << r.rel_error);
    CHECK(r.check.find("decode (double)") == 0);
    CHECK(r.passed);
  }
}
