// NSA in the paper's frame (docs/kernels.md, "NSA with its branch weights"): the three forms agree to
// 1e-12, each branch alone reduces to a known attention in float64, a hand-worked phi case, and
// every learned tensor bites.
#include <cmath>
#include <string>

#include <catch2/catch.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/core/error.hpp"
#include "gmha/kernels/compare.hpp"
#include "gmha/kernels/fill_rule.hpp"
#include "gmha/kernels/reference.hpp"
#include "gmha/kernels/validate.hpp"
#include "kernels/inputs.hpp"

using namespace gmha;
using gmha::test::random_input;

namespace {

double rel(const MatrixRM& a, const MatrixRM& b) { return compare(a, b).rel_error; }

LayerSpec layer_of(const std::string& spec) { return parse_design_spec(spec).layers.front(); }

LayerOptions opts(bool rope) {
  LayerOptions o;
  o.rope.enabled = rope;
  o.rope.theta = 100.0;  // every pair rotates visibly over a few tokens
  return o;
}

// The spec's NSA sizes with no gate of its own (the layer's nsa.gate applies).
NsaOptions nsa_of(const LayerSpec& l, unsigned branches = 7u) {
  const AttentionSpan& s = l.span;
  return {s.block, s.ratio, s.blocks, s.select_block, s.window, {}, {}, branches};
}

// Zero gate weights: every gate is sigmoid(0) = 1/2, so one branch alone is half an attention
// (the factor is exact in floating point).
LayerWeights half_gated(LayerWeights w) {
  w.tensors["nsa.gate"].setZero();
  return w;
}

// `w` without its NSA tensors, with `k`/`v` as its k_proj/v_proj.
LayerWeights plain_with(const LayerWeights& w, const std::string& k, const std::string& v) {
  LayerWeights p;
  p.shape = w.shape;
  for (const auto& [name, m] : w.tensors) {
    if (name.rfind("nsa.", 0) != 0) p.tensors[name] = m;
  }
  p.tensors["k_proj"] = w.at(k);
  p.tensors["v_proj"] = w.at(v);
  return p;
}

int64_t entries_at(const AttentionSpan& s, int64_t T) { return T >= s.block ? (T - s.block) / s.ratio + 1 : 0; }

}  // namespace

TEST_CASE("nsa branches: the three forms agree, the decode caches counted", "[kernels][sparse][nsa]") {
  for (const char* spec : {"gqa:d=16,heads=4,kv=2,hd=4,nsa=4/2/2/4/5", "mha:d=12,heads=3,hd=4,nsa=3/3/2/3/4",
                           "gqa:d=20,heads=6,kv=2,hd=6,bias=1,nsa=5/2/3/4/6", "mqa:d=12,heads=4,hd=4,nsa=2/1/1/8/3",
                           "gqa:d=16,heads=8,kv=2,hd=4,nsa=8/4/2/8/8"}) {
    const LayerSpec l = layer_of(spec);
    const LayerWeights w = random_layer_weights(l, 11);
    for (int64_t T : {1, 7, 23}) {
      const MatrixRM x = random_input(T, l.attention.d_model, 12);
      for (bool rope : {false, true}) {
        INFO(spec << " T = " << T << " rope " << rope);
        LayerOptions o = opts(rope);
        o.sparse.nsa = nsa_of(l);
        const MatrixRM pre = reference_forward(w, x, o, AttentionForm::kPrefill);
        DecodeCacheStats st;
        const MatrixRM dec = reference_forward(w, x, o, AttentionForm::kDecode, &st);
        CHECK(rel(dec, pre) < 1e-12);
        CHECK(rel(reference_forward(w, x, o, AttentionForm::kBilinear), pre) < 1e-12);
        const int64_t W = 2 * l.attention.kv_heads * l.attention.head_dim;
        CHECK(st.elements_per_token == W);
        CHECK(st.elements == (T + std::min(T, l.span.window) + entries_at(l.span, T)) * W);
        // The capacity code's stored entries for the same design (docs/designs.md).
        CHECK(st.elements == stored_tokens(l.span, T, Convention::kExact) * W);
      }
    }
  }
}

TEST_CASE("nsa branches: the window branch alone is sliding-window attention over nsa.k_win/v_win",
          "[kernels][sparse][nsa]") {
  const LayerSpec l = layer_of("gqa:d=16,heads=4,kv=2,hd=4,nsa=4/2/2/4/5");
  const LayerWeights w = half_gated(random_layer_weights(l, 21));
  const MatrixRM x = random_input(19, 16, 22);
  for (bool rope : {false, true}) {
    LayerOptions o = opts(rope);
    o.sparse.nsa = nsa_of(l, 4u);
    LayerOptions sw = opts(rope);
    sw.window = l.span.window;
    const MatrixRM ref = reference_forward(plain_with(w, "nsa.k_win", "nsa.v_win"), x, sw, AttentionForm::kPrefill);
    for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode, AttentionForm::kBilinear}) {
      CHECK(rel(2.0 * reference_forward(w, x, o, f), ref) < 1e-12);
    }
  }
}

TEST_CASE("nsa branches: the selected branch alone with n l' >= T is dense attention over k_proj/v_proj",
          "[kernels][sparse][nsa]") {
  // 5 blocks of 4 cover T = 19; bias=1 puts the layer's q/k/v biases on the selected branch.
  const LayerSpec l = layer_of("gqa:d=16,heads=4,kv=2,hd=4,bias=1,nsa=4/2/5/4/3");
  const LayerWeights w = half_gated(random_layer_weights(l, 31));
  const MatrixRM x = random_input(19, 16, 32);
  for (bool rope : {false, true}) {
    LayerOptions o = opts(rope);
    o.sparse.nsa = nsa_of(l, 2u);
    const MatrixRM ref = reference_forward(plain_with(w, "k_proj", "v_proj"), x, opts(rope), AttentionForm::kPrefill);
    for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode, AttentionForm::kBilinear}) {
      CHECK(rel(2.0 * reference_forward(w, x, o, f), ref) < 1e-12);
    }
    // Fewer blocks than the sequence holds: no longer dense.
    o.sparse.nsa.select_blocks = 2;
    CHECK(rel(2.0 * reference_forward(w, x, o, AttentionForm::kPrefill), ref) > 1e-3);
  }
}

TEST_CASE("nsa branches: the compressed branch with l = d = 1, phi = I, phi_pos = 0 is dense attention "
          "over nsa.k_cmp/v_cmp", "[kernels][sparse][nsa]") {
  const LayerSpec l = layer_of("gqa:d=16,heads=6,kv=3,hd=4,nsa=1/1/2/4/3");
  LayerWeights w = half_gated(random_layer_weights(l, 41));
  w.tensors["nsa.phi_k"].setIdentity();
  w.tensors["nsa.phi_v"].setIdentity();
  w.tensors["nsa.phi_pos"].setZero();
  const MatrixRM x = random_input(17, 16, 42);
  for (bool rope : {false, true}) {
    LayerOptions o = opts(rope);
    o.sparse.nsa = nsa_of(l, 1u);
    const MatrixRM ref = reference_forward(plain_with(w, "nsa.k_cmp", "nsa.v_cmp"), x, opts(rope), AttentionForm::kPrefill);
    for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode, AttentionForm::kBilinear}) {
      CHECK(rel(2.0 * reference_forward(w, x, o, f), ref) < 1e-12);
    }
  }
}

TEST_CASE("nsa branches: phi by hand (l = 2, d = 1, d_h = 1)", "[kernels][sparse][nsa]") {
  const LayerSpec l = layer_of("mha:d=1,heads=1,hd=1,nsa=2/1/1/2/1");
  LayerWeights w = half_gated(random_layer_weights(l, 51));
  for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj", "nsa.k_cmp", "nsa.v_cmp"}) w.tensors[n].setOnes();
  w.tensors["nsa.phi_k"] = (MatrixRM(1, 2) << 0.5, -1.0).finished();
  w.tensors["nsa.phi_v"] = (MatrixRM(1, 2) << 2.0, 1.0).finished();
  w.tensors["nsa.phi_pos"] = (MatrixRM(2, 1) << 0.25, -0.5).finished();
  const MatrixRM x = (MatrixRM(3, 1) << 1.0, 2.0, -1.0).finished();
  // k~_0 = 0.5 (1 + 0.25) - (2 - 0.5) = -0.875, k~_1 = 0.5 (2 + 0.25) - (-1 - 0.5) = 2.625;
  // v~_0 = 2 (1.25) + 1.5 = 4, v~_1 = 2 (2.25) - 1.5 = 3. Query 2 (q = -1, scale 1) scores 0.875
  // and -2.625: p_0 = 1 / (1 + e^-3.5); output (1/2)(4 p_0 + 3 (1 - p_0)) = (3 + p_0) / 2.
  // Query 1 reads entry 0 alone: 4 / 2; query 0 reads no entry: 0.
  const double p0 = 1.0 / (1.0 + std::exp(-3.5));
  LayerOptions o = opts(false);
  o.sparse.nsa = nsa_of(l, 1u);
  for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode, AttentionForm::kBilinear}) {
    const MatrixRM y = reference_forward(w, x, o, f);
    CHECK(y(0, 0) == 0.0);
    CHECK(std::abs(y(1, 0) - 2.0) < 1e-15);
    CHECK(std::abs(y(2, 0) - (3.0 + p0) / 2.0) < 1e-15);
  }
}

TEST_CASE("nsa branches: the selection is the group's, by eq. 9's overlap weights", "[kernels][sparse][nsa]") {
  // l = 2, d = 1, l' = 2, n = 2 at T = 7: query 6 reads its block 3 and the best of blocks 0..2.
  // Entry e covers tokens e, e + 1 and credits block b with |{e, e+1} ∩ {2b, 2b+1}| p_e. With
  // phi_k making every entry's key the key of its second token (k~_e = k_{e+1}), one large key at
  // token 3 makes entry 2 (tokens 2, 3) head 0's: block 1 gets 2 p_2 + p_1 + p_3.
  const LayerSpec l = layer_of("gqa:d=2,heads=2,kv=1,hd=1,nsa=2/1/2/2/1");
  LayerWeights w = half_gated(random_layer_weights(l, 61));
  w.tensors["q_proj"] = (MatrixRM(2, 2) << 1, 0, -1, 0).finished();  // head 0 queries +1, head 1 -1
  w.tensors["k_proj"] = (MatrixRM(1, 2) << 0, 1).finished();
  w.tensors["v_proj"] = (MatrixRM(1, 2) << 0, 1).finished();
  w.tensors["o_proj"] = (MatrixRM(2, 2) << 1, 0, 0, 1).finished();
  w.tensors["nsa.k_cmp"] = (MatrixRM(1, 2) << 0, 1).finished();
  w.tensors["nsa.v_cmp"] = (MatrixRM(1, 2) << 0, 1).finished();
  w.tensors["nsa.phi_k"] = (MatrixRM(1, 2) << 0, 1).finished();
  w.tensors["nsa.phi_pos"].setZero();
  // x_j = (1, value j): queries 1, keys (and values) the second column.
  MatrixRM x(7, 2);
  x << 1, 0.1, 1, 0.2, 1, 0.3, 1, 8.0, 1, 0.4, 1, 0.5, 1, 0.6;
  LayerOptions o = opts(false);
  o.sparse.nsa = nsa_of(l, 2u);
  // Head 1 alone would credit block 2 most (0.72 against 0.70 and 0.42: its query favours small
  // keys); summed over the group (eq. 10) block 1 wins (about 2.4), and both heads read blocks 1
  // (tokens 2, 3) and 3 (token 6), each with its own softmax (scale 1/sqrt(1)).
  const auto mean = [](double q) {
    const double num = 0.3 * std::exp(0.3 * q) + 8.0 * std::exp(8.0 * q) + 0.6 * std::exp(0.6 * q);
    return num / (std::exp(0.3 * q) + std::exp(8.0 * q) + std::exp(0.6 * q));
  };
  for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode, AttentionForm::kBilinear}) {
    const MatrixRM y = reference_forward(w, x, o, f);
    CHECK(std::abs(y(6, 0) - 0.5 * mean(1.0)) < 1e-14);
    CHECK(std::abs(y(6, 1) - 0.5 * mean(-1.0)) < 1e-14);
  }
}

TEST_CASE("nsa branches: eq. 9 credits an entry by the tokens it shares with a block", "[kernels][sparse][nsa]") {
  // One head, l = 2, d = 1, l' = 2, n = 2, T = 7, k~_e = k_{e+1}. Query 6 puts p_0 = 0.4 on entry
  // 0 (tokens 0, 1) and 0.6 on entry 3 (tokens 3, 4), almost nothing elsewhere. Shared tokens
  // give block 0 2 p_0 = 0.8 against block 1's p_3 = 0.6 (entry 3 shares one token with each of
  // blocks 1 and 2); counting each overlapping entry once would give block 0 only 0.4.
  const LayerSpec l = layer_of("mha:d=2,heads=1,hd=1,nsa=2/1/2/2/1");
  LayerWeights w = half_gated(random_layer_weights(l, 65));
  w.tensors["q_proj"] = (MatrixRM(1, 2) << 1, 0).finished();
  for (const char* n : {"k_proj", "v_proj", "nsa.k_cmp", "nsa.phi_k"}) w.tensors[n] = (MatrixRM(1, 2) << 0, 1).finished();
  w.tensors["o_proj"] = (MatrixRM(2, 1) << 1, 0).finished();
  w.tensors["nsa.phi_pos"].setZero();
  MatrixRM x(7, 2);
  x << 1, 0.1, 1, 0.0, 1, -10.0, 1, -10.0, 1, std::log(1.5), 1, -10.0, 1, -10.0;
  LayerOptions o = opts(false);
  o.sparse.nsa = nsa_of(l, 2u);
  // Read: block 0 (tokens 0, 1) and the query's block 3 (token 6).
  const double want = 0.5 * (0.1 * std::exp(0.1) - 10.0 * std::exp(-10.0)) / (std::exp(0.1) + 1.0 + std::exp(-10.0));
  for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode, AttentionForm::kBilinear}) {
    CHECK(std::abs(reference_forward(w, x, o, f)(6, 0) - want) < 1e-14);
  }
}

TEST_CASE("nsa branches: every learned tensor changes the output", "[kernels][sparse][nsa]") {
  const LayerSpec l = layer_of("gqa:d=16,heads=4,kv=2,hd=4,nsa=4/2/2/4/5");
  const LayerWeights w = random_layer_weights(l, 71);
  const MatrixRM x = random_input(21, 16, 72);
  LayerOptions o = opts(true);
  o.sparse.nsa = nsa_of(l);
  const MatrixRM base = reference_forward(w, x, o, AttentionForm::kPrefill);
  for (const char* n : {"nsa.phi_k", "nsa.phi_v", "nsa.phi_pos", "nsa.k_cmp", "nsa.v_cmp", "nsa.k_win", "nsa.v_win",
                        "nsa.gate", "k_proj", "v_proj"}) {
    INFO(n);
    LayerWeights m = w;
    m.tensors[n] *= 1.5;
    for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode, AttentionForm::kBilinear}) {
      CHECK(rel(reference_forward(m, x, o, f), base) > 1e-4);
    }
  }
  // Without the branch tensors the pooled frame (sparse.hpp) runs instead: another output.
  CHECK(rel(reference_forward(plain_with(w, "k_proj", "v_proj"), x, o, AttentionForm::kPrefill), base) > 1e-3);
}

TEST_CASE("nsa branches: refusals name the field", "[kernels][sparse][nsa]") {
  const LayerSpec l = layer_of("gqa:d=16,heads=4,kv=2,hd=4,nsa=4/2/2/4/5");
  const LayerWeights w = random_layer_weights(l, 81);
  const MatrixRM x = random_input(9, 16, 82);
  LayerOptions o = opts(true);
  o.sparse.nsa = nsa_of(l);
  LayerWeights missing = w;
  missing.tensors.erase("nsa.phi_v");
  CHECK_THROWS_WITH(reference_forward(missing, x, o, AttentionForm::kPrefill), Catch::Contains("nsa.phi_v"));
  LayerWeights bad = w;
  bad.tensors["nsa.phi_k"] = MatrixRM::Zero(4, 12);
  CHECK_THROWS_WITH(reference_forward(bad, x, o, AttentionForm::kDecode), Catch::Contains("nsa.phi_k"));
  LayerOptions pooled = o;
  pooled.sparse.nsa.cmp_weights = {0.25, 0.25, 0.25, 0.25};
  CHECK_THROWS_AS(reference_forward(w, x, pooled, AttentionForm::kPrefill), InputError);
}

TEST_CASE("nsa branches: the fill rule takes the gate from the weights and gmha validate runs the paper's form",
          "[kernels][sparse][nsa]") {
  const LayerSpec l = layer_of("gqa:d=32,heads=4,kv=2,hd=8,nsa=8/4/2/8/8");
  const LayerWeights w = random_layer_weights(l, 91);
  const MatrixRM x = random_input(24, 32, 92);
  LayerOptions o;
  apply_fill_rule(l.span, w, x, o, 93);
  CHECK(o.sparse.nsa.gate == w.at("nsa.gate"));
  CHECK(o.sparse.nsa.cmp_weights.empty());
  ValidateOptions v;
  v.designs = {"gqa:d=32,heads=4,kv=2,hd=8,nsa=8/4/2/8/8"};
  v.tokens = 40;
  const auto rows = run_validation(v);
  REQUIRE_FALSE(rows.empty());
  for (const auto& r : rows) {
    INFO(r.check << ": " << r.worst);
    CHECK(r.passed);
    CHECK(r.rel_error > 0);
  }
}
