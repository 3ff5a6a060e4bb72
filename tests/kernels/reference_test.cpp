// The double reference: hand-worked cases, identities between variants, and the three forms
// (bilinear, prefill, decode) agreeing for every variant.
#include <cmath>
#include <random>

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



LayerOptions rope_opts(RopeStyle style = RopeStyle::kHalves) {
  LayerOptions o;
  o.rope.enabled = true;
  o.rope.theta = 100.0;  // a small base makes every pair rotate visibly over a few tokens
  o.rope.style = style;
  return o;
}

const char* kAllSpecs[] = {
    "fpba:d=6",
    "mha:d=12,heads=3,hd=4",
    "mqa:d=10,heads=3,hd=6",
    "gqa:d=16,heads=6,kv=2,hd=4",
    "gqa:d=16,heads=4,kv=2,hd=6,bias=1",
    "mla:d=20,heads=3,c=7,qlora=9,nope=5,rope=4,v=3",
    "mla:d=18,heads=2,c=6,qlora=0,nope=4,rope=2,v=5",
    "mfa:d=14,heads=3,c=6,cq=5",
    "mfa-kr:d=14,heads=3,c=8,cq=10",
};

}  // namespace

TEST_CASE("reference: one head with identity weights matches the hand-worked softmax", "[kernels]") {
  LayerWeights w;
  w.shape = shape_of("mha:d=2,heads=1,hd=2");
  for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj"}) w.tensors[n] = MatrixRM::Identity(2, 2);
  MatrixRM x(2, 2);
  x << 1, 0, 0, 1;
  LayerOptions o;
  o.rope.enabled = false;
  // Token 1 scores k0 at 0 and k1 at 1/sqrt(2): weights 1/(1+e^{s}) and e^{s}/(1+e^{s}).
  const double s = 1.0 / std::sqrt(2.0), p1 = std::exp(s) / (1.0 + std::exp(s));
  MatrixRM expect(2, 2);
  expect << 1, 0, 1 - p1, p1;
  for (AttentionForm f : {AttentionForm::kBilinear, AttentionForm::kPrefill, AttentionForm::kDecode}) {
    const MatrixRM y = reference_forward(w, x, o, f);
    INFO(form_name(f));
    CHECK(compare(y, expect).max_abs_error < 1e-15);
  }
}

TEST_CASE("rope: halves pair i with i+dim/2, interleaved pairs 2i with 2i+1", "[kernels]") {
  RopeConfig c;
  c.theta = 100.0;  // inv_freq = [1, 1/10] for dim 4
  RopeTable t = resolve_rope(c, 4, 8);
  REQUIRE(t.inv_freq[0] == 1.0);
  REQUIRE(t.inv_freq[1] == Approx(0.1).epsilon(1e-15));
  double v[4] = {1, 2, 3, 4};
  apply_rope(t, 1, v);
  // (1, 3) rotate by 1 rad, (2, 4) by 0.1 rad.
  CHECK(v[0] == Approx(std::cos(1.0) - 3 * std::sin(1.0)));
  CHECK(v[2] == Approx(3 * std::cos(1.0) + std::sin(1.0)));
  CHECK(v[1] == Approx(2 * std::cos(0.1) - 4 * std::sin(0.1)));
  CHECK(v[3] == Approx(4 * std::cos(0.1) + 2 * std::sin(0.1)));
  c.style = RopeStyle::kInterleaved;
  t = resolve_rope(c, 4, 8);
  double u[4] = {1, 2, 3, 4};
  apply_rope(t, 1, u);
  CHECK(u[0] == Approx(std::cos(1.0) - 2 * std::sin(1.0)));
  CHECK(u[1] == Approx(2 * std::cos(1.0) + std::sin(1.0)));
  CHECK(u[2] == Approx(3 * std::cos(0.1) - 4 * std::sin(0.1)));
  apply_rope_inverse(t, 1, u);
  CHECK(u[3] == Approx(4.0).epsilon(1e-14));
}

TEST_CASE("rope: scaling rules follow Hugging Face (linear, llama3, dynamic, yarn)", "[kernels]") {
  RopeConfig c;
  c.theta = 10000.0;
  const RopeTable plain = resolve_rope(c, 8, 16);
  c.scaling = RopeScalingKind::kLinear;
  c.factor = 4.0;
  CHECK(resolve_rope(c, 8, 16).inv_freq[2] == Approx(plain.inv_freq[2] / 4));
  // llama3: wavelengths above original/low_freq_factor are divided, below original/high kept.
  c.scaling = RopeScalingKind::kLlama3;
  c.factor = 8.0;
  c.original_max_position = 64;
  c.low_freq_factor = 1.0;
  c.high_freq_factor = 4.0;
  const RopeTable l3 = resolve_rope(c, 8, 16);
  CHECK(l3.inv_freq[0] == plain.inv_freq[0]);          // wavelength 2 pi < 16: kept
  CHECK(l3.inv_freq[3] == Approx(plain.inv_freq[3] / 8));  // wavelength 6283 > 64: divided
  // dynamic: unchanged within max_position, base grows beyond it.
  c = RopeConfig{};
  c.scaling = RopeScalingKind::kDynamic;
  c.factor = 2.0;
  c.max_position = 32;
  CHECK(resolve_rope(c, 8, 32).inv_freq[3] == Approx(plain.inv_freq[3]));
  const double base = 10000.0 * std::pow(2.0 * 64 / 32 - 1.0, 8.0 / 6.0);
  CHECK(resolve_rope(c, 8, 64).inv_freq[3] == Approx(std::pow(base, -6.0 / 8)));
  // yarn as DeepSeek-V3 configures it: cos/sin factor 1, softmax scale gains mscale^2.
  LayerOptions o;
  o.rope.scaling = RopeScalingKind::kYarn;
  o.rope.factor = 40.0;
  o.rope.original_max_position = 4096;
  o.rope.mscale = 1.0;
  o.rope.mscale_all_dim = 1.0;
  o.rope.beta_fast = 32;
  o.rope.beta_slow = 1;
  CHECK(resolve_rope(o.rope, 64, 10).attention_factor == 1.0);
  const AttentionShape mla = shape_of("mla:d=64,heads=2,c=16,qlora=8,nope=128,rope=64,v=8");
  const double m = 0.1 * std::log(40.0) + 1.0;
  CHECK(softmax_scale(mla, o) == Approx(m * m / std::sqrt(192.0)).epsilon(1e-14));
  // Without mscale fields (Qwen-style yarn) cos and sin carry 0.1 ln(factor) + 1.
  o.rope.mscale = o.rope.mscale_all_dim = 0;
  CHECK(resolve_rope(o.rope, 64, 10).attention_factor == Approx(m));
  CHECK_THROWS_AS(resolve_rope(c, 7, 4), InputError);
}

TEST_CASE("reference: bilinear, prefill and decode agree for every variant", "[kernels]") {
  for (const char* spec : kAllSpecs) {
    for (int rope = 0; rope < 2; ++rope) {
      const AttentionShape s = shape_of(spec);
      const LayerWeights w = random_layer_weights(s, 7 + rope);
      LayerOptions o = rope_opts(s.variant == Variant::kMla ? RopeStyle::kInterleaved : RopeStyle::kHalves);
      o.rope.enabled = rope == 1;
      const MatrixRM x = random_input(7, s.d_model, 11);
      const MatrixRM pre = reference_forward(w, x, o, AttentionForm::kPrefill);
      const MatrixRM bil = reference_forward(w, x, o, AttentionForm::kBilinear);
      const MatrixRM dec = reference_forward(w, x, o, AttentionForm::kDecode);
      INFO(spec << " rope " << rope);
      CHECK(compare(bil, pre).rel_error < 1e-12);
      CHECK(compare(dec, pre).rel_error < 1e-12);  // for MLA: absorbed equals expanded
    }
  }
}

TEST_CASE("reference: decode of the first t tokens is the first t rows of prefill (causal)", "[kernels]") {
  const AttentionShape s = shape_of("mfa:d=14,heads=3,c=6,cq=5");
  const LayerWeights w = random_layer_weights(s, 3);
  const MatrixRM x = random_input(9, s.d_model, 4);
  const MatrixRM full = reference_forward(w, x, rope_opts(), AttentionForm::kPrefill);
  const MatrixRM part = reference_forward(w, x.topRows(5), rope_opts(), AttentionForm::kDecode);
  CHECK(compare(part, full.topRows(5)).rel_error < 1e-13);
  // The last row of decode is the last row of prefill.
  const MatrixRM dec = reference_forward(w, x, rope_opts(), AttentionForm::kDecode);
  CHECK(compare(dec.bottomRows(1), full.bottomRows(1)).rel_error < 1e-13);
}

TEST_CASE("reference: GQA with g = n is MHA, g = 1 is MQA (duplicated K/V heads)", "[kernels]") {
  const MatrixRM x = random_input(6, 12, 5);
  for (int64_t g : {1, 2}) {
    const AttentionShape gs = shape_of(g == 1 ? "mqa:d=12,heads=4,hd=4" : "gqa:d=12,heads=4,kv=2,hd=4");
    const LayerWeights gw = random_layer_weights(gs, 21);
    LayerWeights mw;
    mw.shape = shape_of("mha:d=12,heads=4,hd=4");
    mw.tensors["q_proj"] = gw.at("q_proj");
    mw.tensors["o_proj"] = gw.at("o_proj");
    for (const char* n : {"k_proj", "v_proj"}) {
      MatrixRM dup(16, 12);
      for (int64_t c = 0; c < 4; ++c) dup.middleRows(c * 4, 4) = gw.at(n).middleRows((c / (4 / g)) * 4, 4);
      mw.tensors[n] = dup;
    }
    const MatrixRM a = reference_forward(gw, x, rope_opts(), AttentionForm::kPrefill);
    const MatrixRM b = reference_forward(mw, x, rope_opts(), AttentionForm::kDecode);
    CHECK(compare(a, b).rel_error < 1e-13);
  }
}

TEST_CASE("reference: MFA-KR with alpha = 0 is MFA with V = K", "[kernels]") {
  const AttentionShape kr = shape_of("mfa-kr:d=14,heads=3,c=6,cq=5");
  LayerWeights w = random_layer_weights(kr, 8);
  w.tensors["kr_alpha"].setZero();
  LayerWeights m;
  m.shape = shape_of("mfa:d=14,heads=3,c=6,cq=5");
  for (const char* n : {"q_proj", "inter_norm", "wq", "k_proj", "o_proj"}) m.tensors[n] = w.at(n);
  m.tensors["v_proj"] = w.at("k_proj");
  const MatrixRM x = random_input(5, 14, 9);
  CHECK(compare(reference_forward(w, x, rope_opts(), AttentionForm::kDecode),
                reference_forward(m, x, rope_opts(), AttentionForm::kPrefill))
            .rel_error < 1e-13);
}

TEST_CASE("reference: decode cache holds the capacity code's KV bytes after T tokens", "[kernels]") {
  const char* specs[] = {"gqa:d=16,heads=4,kv=2,hd=6,kv_dtype=fp32",
                         "mla:d=20,heads=3,c=7,qlora=9,nope=5,rope=4,v=3,kv_dtype=bf16",
                         "mfa:d=14,heads=3,c=6,cq=5,kv_dtype=fp32", "mfa-kr:d=14,heads=3,c=8,cq=10",
                         "fpba:d=5"};
  for (const char* spec : specs) {
    const ModelDesign m = parse_design_spec(spec);
    const LayerSpec& layer = m.layers.at(0);
    const int64_t T = 9;
    DecodeCacheStats st;
    reference_forward(random_layer_weights(layer.attention, 1), random_input(T, m.d_model, 2), rope_opts(),
                      AttentionForm::kDecode, &st);
    CapacityOptions co;
    co.context = T;
    const ModelFigures f = compute_figures(m, co);
    INFO(spec);
    CHECK(static_cast<double>(st.elements) * dtype_bits(layer.kv_dtype) / 8 ==
          f.groups.at(0).kv_bytes_per_token_per_layer * T);
  }
}

TEST_CASE("reference: bad inputs are InputErrors naming the problem", "[kernels]") {
  const AttentionShape s = shape_of("mfa:d=14,heads=3,c=6,cq=5");
  LayerWeights w = random_layer_weights(s, 1);
  CHECK_THROWS_AS(reference_forward(w, random_input(3, 13, 1), LayerOptions{}, AttentionForm::kPrefill),
                  InputError);
  MatrixRM x = random_input(3, 14, 1);
  x(1, 2) = std::nan("");
  CHECK_THROWS_WITH(reference_forward(w, x, LayerOptions{}, AttentionForm::kPrefill),
                    Catch::Contains("non-finite"));
  w.tensors["wq"](0, 0) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(reference_forward(w, random_input(3, 14, 1), LayerOptions{}, AttentionForm::kDecode),
                    Catch::Contains("'wq'"));
  w.tensors["wq"](0, 0) = 0.5;
  w.tensors.erase("k_proj");
  CHECK_THROWS_WITH(check_layer_weights(w, "w.safetensors"), Catch::Contains("k_proj"));
  CHECK_THROWS_AS(compare(MatrixRM::Zero(2, 2), MatrixRM::Zero(2, 2)), InputError);
}
