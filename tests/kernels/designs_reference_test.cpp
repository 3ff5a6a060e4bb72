// The double reference for GTA, GLA and TPA (docs/designs.md): the three forms agree, and the
// identities between the designs and the MFA paper's variants hold to 1e-12 in float64.
#include <random>

#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/core/error.hpp"
#include "gmha/kernels/compare.hpp"
#include "gmha/kernels/reference.hpp"
#include "kernels/inputs.hpp"

using namespace gmha;
using gmha::test::random_input;
using gmha::test::shape_of;

namespace {



LayerOptions rope_opts(bool enabled, RopeStyle style = RopeStyle::kHalves) {
  LayerOptions o;
  o.rope.enabled = enabled;
  o.rope.theta = 100.0;  // a small base makes every pair rotate visibly over a few tokens
  o.rope.style = style;
  return o;
}

double rel(const MatrixRM& a, const MatrixRM& b) { return compare(a, b).rel_error; }

}  // namespace

TEST_CASE("designs reference: bilinear, prefill and decode agree for GTA, GLA, TPA", "[kernels][designs]") {
  const char* specs[] = {
      "gta:d=16,heads=4,kv=2,hd=6,rope=2",  "gta:d=12,heads=3,kv=3,hd=4,rope=0",
      "gta:d=14,heads=4,kv=1,hd=8,rope=4",  "gla:d=20,heads=4,hc=2,c=5,qlora=9,nope=4,rope=4,v=3",
      "gla:d=18,heads=6,hc=3,c=4,qlora=0,nope=3,rope=2,v=5",
      "tpa:d=16,heads=3,hd=4,rq=2,rk=3,rv=1,noncontextual=1",
      "tpa:d=12,heads=2,hd=6,rq=3,rk=2,rv=2,noncontextual=1"};
  for (const char* spec : specs) {
    for (int rope = 0; rope < 2; ++rope) {
      const AttentionShape s = shape_of(spec);
      const LayerWeights w = random_layer_weights(s, 17 + rope);
      const LayerOptions o = rope_opts(rope == 1);
      const MatrixRM x = random_input(7, s.d_model, 5);
      const MatrixRM pre = reference_forward(w, x, o, AttentionForm::kPrefill);
      INFO(spec << " rope " << rope);
      CHECK(rel(reference_forward(w, x, o, AttentionForm::kBilinear), pre) < 1e-12);
      CHECK(rel(reference_forward(w, x, o, AttentionForm::kDecode), pre) < 1e-12);
    }
  }
}

TEST_CASE("designs reference: contextual TPA's factored decode equals its prefill and it has no bilinear form",
          "[kernels][designs]") {
  const AttentionShape s = shape_of("tpa:d=16,heads=3,hd=4,rq=2,rk=3,rv=2");
  const LayerWeights w = random_layer_weights(s, 3);
  const MatrixRM x = random_input(8, 16, 4);
  for (bool rope : {false, true}) {
    const MatrixRM pre = reference_forward(w, x, rope_opts(rope), AttentionForm::kPrefill);
    CHECK(rel(reference_forward(w, x, rope_opts(rope), AttentionForm::kDecode), pre) < 1e-12);
  }
  // Outside the bilinear GMHA form: the bilinear form refuses rather than approximates.
  CHECK_THROWS_WITH(reference_forward(w, x, rope_opts(true), AttentionForm::kBilinear),
                    Catch::Contains("outside the bilinear GMHA form"));
}

TEST_CASE("designs reference: GLA with h_c = 1 is MLA", "[kernels][designs]") {
  const AttentionShape g = shape_of("gla:d=20,heads=3,hc=1,c=7,qlora=9,nope=5,rope=4,v=3");
  const AttentionShape m = shape_of("mla:d=20,heads=3,c=7,qlora=9,nope=5,rope=4,v=3");
  LayerWeights gw = random_layer_weights(g, 9);
  LayerWeights mw;
  mw.shape = m;
  mw.tensors = gw.tensors;  // the same names and shapes (tests/attention/designs_test.cpp)
  const MatrixRM x = random_input(6, 20, 10);
  const LayerOptions o = rope_opts(true, RopeStyle::kInterleaved);
  for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode, AttentionForm::kBilinear}) {
    INFO(form_name(f));
    CHECK(rel(reference_forward(gw, x, o, f), reference_forward(mw, x, o, AttentionForm::kPrefill)) < 1e-12);
  }
}

TEST_CASE("designs reference: GTA without RoPE is a tied GQA / MQA", "[kernels][designs]") {
  // GTA rope = 0: K = V = the group's state kv_proj x. GQA with v_proj = k_proj and no RoPE
  // computes the same attention (h_kv = 1: MQA).
  for (int64_t g : {2, 1}) {
    const std::string gta_spec = fmt::format("gta:d=12,heads=4,kv={},hd=5,rope=0", g);
    const std::string gqa_spec = g == 1 ? "mqa:d=12,heads=4,hd=5" : "gqa:d=12,heads=4,kv=2,hd=5";
    const LayerWeights tw = random_layer_weights(shape_of(gta_spec.c_str()), 30 + g);
    LayerWeights qw;
    qw.shape = shape_of(gqa_spec.c_str());
    qw.tensors["q_proj"] = tw.at("q_proj");
    qw.tensors["k_proj"] = tw.at("kv_proj");
    qw.tensors["v_proj"] = tw.at("kv_proj");
    qw.tensors["o_proj"] = tw.at("o_proj");
    const MatrixRM x = random_input(6, 12, 31);
    INFO(gta_spec);
    CHECK(rel(reference_forward(tw, x, rope_opts(false), AttentionForm::kDecode),
              reference_forward(qw, x, rope_opts(false), AttentionForm::kPrefill)) < 1e-12);
  }
}

TEST_CASE("designs reference: non-contextual TPA with R = h basis vectors is MHA, R_K = R_V = 1 is MQA",
          "[kernels][designs]") {
  // Zhang et al. 2025 §4: MHA is TPA with R = h and a_r = R e_r (the 1/R mean then selects head
  // r's factor b_r = W_r x); MQA keeps R_Q = h for the queries and one key/value product with
  // a = 1 for every head. RoPE on the b factors is RoPE on each head.
  const int64_t h = 3, hd = 4, d = 12;
  for (bool mqa : {false, true}) {
    const int64_t rkv = mqa ? 1 : h;
    const LayerWeights base = random_layer_weights(shape_of(mqa ? "mqa:d=12,heads=3,hd=4" : "mha:d=12,heads=3,hd=4"), 40);
    LayerWeights tw;
    tw.shape = shape_of(fmt::format("tpa:d=12,heads=3,hd=4,rq=3,rk={},rv={},noncontextual=1", rkv, rkv).c_str());
    auto basis = [&](int64_t rank) {
      MatrixRM a = MatrixRM::Zero(rank * h, 1);  // head-major: entry i R + r
      for (int64_t i = 0; i < h; ++i) {
        for (int64_t r = 0; r < rank; ++r) a(i * rank + r, 0) = rank == 1 ? 1.0 : (r == i ? double(rank) : 0.0);
      }
      return a;
    };
    tw.tensors["A_q"] = basis(h);
    tw.tensors["W_B_q"] = base.at("q_proj");  // r-major blocks of d_h rows: block r = head r
    tw.tensors["A_k"] = basis(rkv);
    tw.tensors["W_B_k"] = base.at("k_proj");
    tw.tensors["A_v"] = basis(rkv);
    tw.tensors["W_B_v"] = base.at("v_proj");
    tw.tensors["o_proj"] = base.at("o_proj");
    const MatrixRM x = random_input(7, d, 41);
    INFO((mqa ? "MQA" : "MHA"));
    for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode, AttentionForm::kBilinear}) {
      CHECK(rel(reference_forward(tw, x, rope_opts(true), f),
                reference_forward(base, x, rope_opts(true), AttentionForm::kPrefill)) < 1e-12);
    }
    (void)hd;
  }
}

TEST_CASE("designs reference: decode caches hold the capacity code's bytes", "[kernels][designs]") {
  for (const char* spec : {"gta:d=16,heads=4,kv=2,hd=6,rope=2,kv_dtype=fp32",
                           "gla:d=20,heads=4,hc=2,c=5,qlora=9,nope=4,rope=4,v=3",
                           "tpa:d=16,heads=3,hd=4,rq=2,rk=3,rv=2",
                           "tpa:d=16,heads=3,hd=4,rq=2,rk=3,rv=2,noncontextual=1"}) {
    const ModelDesign m = parse_design_spec(spec);
    const LayerSpec& layer = m.layers.at(0);
    const int64_t T = 9;
    DecodeCacheStats st;
    reference_forward(random_layer_weights(layer.attention, 1), random_input(T, m.d_model, 2), rope_opts(true),
                      AttentionForm::kDecode, &st);
    CapacityOptions co;
    co.context = T;
    const ModelFigures f = compute_figures(m, co);
    INFO(spec);
    CHECK(static_cast<double>(st.elements) * dtype_bits(layer.kv_dtype) / 8 == f.kv_bytes);
  }
}

TEST_CASE("designs reference: a changed first token fails the agreement", "[kernels][designs]") {
  // The checks above can fail: the last row depends on every earlier token.
  const AttentionShape s = shape_of("gla:d=20,heads=4,hc=2,c=5,qlora=9,nope=4,rope=4,v=3");
  const LayerWeights w = random_layer_weights(s, 2);
  const MatrixRM x = random_input(8, 20, 3);
  const MatrixRM pre = reference_forward(w, x, rope_opts(true), AttentionForm::kPrefill);
  MatrixRM shifted = x;
  shifted.row(0).setZero();
  const MatrixRM dec = reference_forward(w, shifted, rope_opts(true), AttentionForm::kDecode);
  CHECK(rel(dec.bottomRows(1), pre.bottomRows(1)) > 1e-6);
}

namespace {

// A GQA-family layer's weights with Qwen3-style per-head q/k norms added (Gemma 4's global
// layers norm q and k per head before RoPE).
LayerWeights with_qk_norms(LayerWeights w, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.75, 1.25);
  for (const char* n : {"q_norm", "k_norm"}) {
    MatrixRM g(w.shape.head_dim, 1);
    for (auto& v : g.reshaped()) v = u(rng);
    w.tensors[n] = g;
  }
  return w;
}

}  // namespace

TEST_CASE("designs reference: K = V tied layers agree in three forms and cache the key only",
          "[kernels][designs]") {
  // Gemma 4 (attention_k_eq_v): V is the raw key projection, before k_norm and RoPE; the decode
  // form caches that projection alone (g h per token, kv_bytes_per_token_minimal).
  const char* specs[] = {"gqa:d=24,heads=4,kv=2,hd=6,kv_tied=1", "mqa:d=20,heads=5,hd=4,kv_tied=1",
                         "mha:d=18,heads=3,hd=6,kv_tied=1", "gqa:d=24,heads=6,kv=3,hd=4,bias=1,kv_tied=1"};
  for (const char* spec : specs) {
    for (int norms = 0; norms < 2; ++norms) {
      const AttentionShape s = shape_of(spec);
      REQUIRE(s.kv_tied);
      LayerWeights w = random_layer_weights(s, 50 + norms);
      REQUIRE_FALSE(w.has("v_proj"));
      if (norms) w = with_qk_norms(w, 60);
      const LayerOptions o = rope_opts(true);
      const MatrixRM x = random_input(9, s.d_model, 7);
      const MatrixRM pre = reference_forward(w, x, o, AttentionForm::kPrefill);
      DecodeCacheStats st;
      INFO(spec << " norms " << norms);
      CHECK(rel(reference_forward(w, x, o, AttentionForm::kBilinear), pre) < 1e-12);
      CHECK(rel(reference_forward(w, x, o, AttentionForm::kDecode, &st), pre) < 1e-12);
      CHECK(st.elements_per_token == s.kv_heads * s.head_dim);
      CHECK(st.elements == 9 * s.kv_heads * s.head_dim);
    }
  }
}

TEST_CASE("designs reference: a K = V tied layer is the untied layer whose v_proj is its k_proj",
          "[kernels][designs]") {
  // The identity that defines the tying: an untied layer with v_proj := k_proj (and its bias)
  // computes the same attention, in float64, with q/k norms and RoPE acting on the key only.
  const AttentionShape tied = shape_of("gqa:d=24,heads=6,kv=2,hd=4,bias=1,kv_tied=1");
  const AttentionShape untied = shape_of("gqa:d=24,heads=6,kv=2,hd=4,bias=1");
  const LayerWeights tw = with_qk_norms(random_layer_weights(tied, 71), 72);
  LayerWeights uw = tw;
  uw.shape = untied;
  uw.tensors["v_proj"] = tw.at("k_proj");
  uw.tensors["v_proj.bias"] = tw.at("k_proj.bias");
  const MatrixRM x = random_input(8, 24, 73);
  for (bool rope : {false, true}) {
    const MatrixRM want = reference_forward(uw, x, rope_opts(rope), AttentionForm::kPrefill);
    for (AttentionForm f : {AttentionForm::kBilinear, AttentionForm::kPrefill, AttentionForm::kDecode}) {
      INFO(form_name(f) << " rope " << rope);
      CHECK(rel(reference_forward(tw, x, rope_opts(rope), f), want) < 1e-12);
    }
  }
  // And the tying matters: the untied layer with its own random v_proj differs.
  LayerWeights other = uw;
  other.tensors["v_proj"] = random_layer_weights(untied, 74).at("v_proj");
  CHECK(rel(reference_forward(other, x, rope_opts(true), AttentionForm::kPrefill),
            reference_forward(tw, x, rope_opts(true), AttentionForm::kPrefill)) > 1e-3);
}

TEST_CASE("designs reference: a shared cache owned by a K = V tied layer reads the owner's keys as values",
          "[kernels][designs]") {
  const AttentionShape tied = shape_of("gqa:d=16,heads=4,kv=2,hd=4,kv_tied=1");
  const AttentionShape plain = shape_of("gqa:d=16,heads=4,kv=2,hd=4");
  const LayerWeights reader = random_layer_weights(plain, 80);
  const LayerWeights owner = random_layer_weights(tied, 81);
  LayerWeights owner_untied = owner;
  owner_untied.shape = plain;
  owner_untied.tensors["v_proj"] = owner.at("k_proj");
  const MatrixRM x = random_input(7, 16, 82), xo = random_input(7, 16, 83);
  const LayerOptions o = rope_opts(true);
  const MatrixRM want = reference_forward_shared(reader, owner_untied, x, xo, o, AttentionForm::kPrefill);
  for (AttentionForm f : {AttentionForm::kBilinear, AttentionForm::kPrefill, AttentionForm::kDecode}) {
    INFO(form_name(f));
    CHECK(rel(reference_forward_shared(reader, owner, x, xo, o, f), want) < 1e-12);
  }
}

TEST_CASE("designs reference: DeepSeek-V4's K = V latent is refused by name", "[kernels][designs]") {
  AttentionShape s = shape_of("gqa:d=16,heads=4,kv=1,hd=4,kv_tied=1");
  s.kv_latent = true;
  LayerWeights w = random_layer_weights(shape_of("gqa:d=16,heads=4,kv=1,hd=4,kv_tied=1"), 90);
  w.shape = s;
  CHECK_THROWS_WITH(reference_forward(w, random_input(3, 16, 91), rope_opts(false), AttentionForm::kPrefill),
                    Catch::Contains("shared K = V latent (kv_latent) is not modelled"));
}
