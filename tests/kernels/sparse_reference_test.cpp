// The reference's sparse rules (DSA top-k, MoBA, NSA, CSA/HCA), sinks and output gates
// (docs/kernels.md, "Sparse, compressed and gated attention"): the three forms agree under every
// rule, the identities with dense and sliding-window attention hold to 1e-12 in float64, and
// hand-worked and plain-loop known answers (sharing no code with src/kernels/sparse.cpp) hold.
#include <cmath>
#include <limits>
#include <random>

#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "gmha/core/error.hpp"
#include "gmha/kernels/compare.hpp"
#include "gmha/kernels/decode.hpp"
#include "gmha/kernels/reference.hpp"
#include "kernels/inputs.hpp"

using namespace gmha;
using gmha::test::random_input;
using gmha::test::shape_of;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

LayerOptions rope_opts(bool enabled) {
  LayerOptions o;
  o.rope.enabled = enabled;
  o.rope.theta = 100.0;  // every pair rotates visibly over a few tokens
  return o;
}

double rel(const MatrixRM& a, const MatrixRM& b) { return compare(a, b).rel_error; }

MatrixRM random_matrix(int64_t r, int64_t c, uint64_t seed, double sd = 1.0) {
  return random_input(r, c, seed) * sd;
}

bool has_bilinear(const AttentionShape& s) { return !(s.variant == Variant::kTpa && !s.tpa_noncontextual); }

// Every form of `w` under `o` against the prefill.
void check_forms_agree(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o, const std::string& what) {
  const MatrixRM pre = reference_forward(w, x, o, AttentionForm::kPrefill);
  INFO(what);
  CHECK(rel(reference_forward(w, x, o, AttentionForm::kDecode), pre) < 1e-12);
  if (has_bilinear(w.shape)) CHECK(rel(reference_forward(w, x, o, AttentionForm::kBilinear), pre) < 1e-12);
}

// A random selection of about half the tokens at or before each query, the query always in it.
std::vector<std::vector<int64_t>> random_selection(int64_t T, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int64_t>> sel(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) {
    for (int64_t j = 0; j < i; ++j) {
      if (rng() % 2) sel[static_cast<size_t>(i)].push_back(j);
    }
    sel[static_cast<size_t>(i)].push_back(i);
  }
  return sel;
}

const char* kSpecs[] = {"mha:d=12,heads=3,hd=4",
                        "gqa:d=16,heads=4,kv=2,hd=6,bias=1",
                        "mla:d=20,heads=3,c=7,qlora=9,nope=5,rope=4,v=3",
                        "mfa-kr:d=14,heads=3,c=8,cq=10",
                        "gta:d=16,heads=4,kv=2,hd=6,rope=2",
                        "gla:d=20,heads=4,hc=2,c=5,qlora=9,nope=4,rope=4,v=3",
                        "tpa:d=16,heads=3,hd=4,rq=2,rk=3,rv=2",
                        "fpba:d=5"};

}  // namespace

TEST_CASE("sparse reference: the three forms agree under top-k, MoBA, NSA and compression", "[kernels][sparse]") {
  const int64_t T = 13;
  for (const char* spec : kSpecs) {
    const AttentionShape s = shape_of(spec);
    const LayerWeights w = random_layer_weights(s, 5);
    const MatrixRM x = random_input(T, s.d_model, 6);
    for (bool rope : {false, true}) {
      const std::string tag = fmt::format("{} rope {}", spec, rope);
      LayerOptions o = rope_opts(rope);
      o.sparse.topk = random_selection(T, 7);
      check_forms_agree(w, x, o, tag + " topk");
      o.sparse = {};
      o.sparse.moba = {3, 2};
      check_forms_agree(w, x, o, tag + " moba 3/2");
      o.sparse = {};
      o.sparse.nsa.cmp_block = 4;
      o.sparse.nsa.cmp_stride = 2;
      o.sparse.nsa.select_blocks = 2;
      o.sparse.nsa.select_block = 4;
      o.sparse.nsa.window = 3;
      o.sparse.nsa.cmp_weights = {0.1, 0.4, 0.3, 0.2};
      o.sparse.nsa.gate = random_matrix(3 * s.heads, s.d_model, 8);
      check_forms_agree(w, x, o, tag + " nsa 4/2/2/4/3");
      o.sparse = {};
      o.sparse.compress.stride = 3;
      o.sparse.compress.window = 2;
      o.sparse.compress.gate = random_matrix(1, s.d_model, 9);
      o.sparse.compress.ape = {0.3, -0.2, 0.5};
      check_forms_agree(w, x, o, tag + " compress 3, window 2");
      o.sparse.compress.entry_topk = 2;
      check_forms_agree(w, x, o, tag + " compress 3, window 2, top-2 entries");
    }
  }
}

TEST_CASE("sparse reference: sinks, head and element gates and o_proj bias agree in the three forms",
          "[kernels][sparse]") {
  for (OutputGate g : {OutputGate::kNone, OutputGate::kHeadwise, OutputGate::kElementwise}) {
    for (bool bias : {false, true}) {
      AttentionShape s = shape_of(bias ? "gqa:d=16,heads=4,kv=2,hd=4,bias=1" : "gqa:d=16,heads=4,kv=2,hd=4");
      s.sinks = true;
      s.o_bias = bias;
      s.gate = g;
      const LayerWeights w = random_layer_weights(s, 11);
      const MatrixRM x = random_input(9, 16, 12);
      LayerOptions o = rope_opts(true);
      check_forms_agree(w, x, o, fmt::format("gate {} bias {}", static_cast<int>(g), bias));
      o.sparse.moba = {2, 2};  // sinks and gates compose with the fill rules
      check_forms_agree(w, x, o, fmt::format("gate {} bias {} moba", static_cast<int>(g), bias));
    }
  }
}

TEST_CASE("sparse reference: top-k with k >= T, MoBA over every block and s = 1 compression are dense",
          "[kernels][sparse]") {
  const int64_t T = 10;
  for (const char* spec : kSpecs) {
    const AttentionShape s = shape_of(spec);
    const LayerWeights w = random_layer_weights(s, 21);
    const MatrixRM x = random_input(T, s.d_model, 22);
    const LayerOptions dense = rope_opts(true);
    const MatrixRM ref = reference_forward(w, x, dense, AttentionForm::kPrefill);
    for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode, AttentionForm::kBilinear}) {
      if (f == AttentionForm::kBilinear && !has_bilinear(s)) continue;
      INFO(spec << " " << form_name(f));
      LayerOptions o = dense;
      // Any scores: with k >= T every token at or before the query is selected.
      o.sparse.topk = top_k_selection(random_matrix(T, T, 23), T + 3);
      CHECK(rel(reference_forward(w, x, o, f), ref) < 1e-12);
      o.sparse = {};
      o.sparse.moba = {3, (T + 2) / 3};  // k = the number of blocks
      CHECK(rel(reference_forward(w, x, o, f), ref) < 1e-12);
      o.sparse = {};
      o.sparse.compress.stride = 1;  // one token per entry: the softmax gate of one token is 1
      o.sparse.compress.gate = random_matrix(1, s.d_model, 24);
      CHECK(rel(reference_forward(w, x, o, f), ref) < 1e-12);
    }
  }
}

TEST_CASE("sparse reference: NSA with only the window branch is sliding-window attention", "[kernels][sparse]") {
  const int64_t T = 12, W = 4;
  for (const char* spec : kSpecs) {
    const AttentionShape s = shape_of(spec);
    const LayerWeights w = random_layer_weights(s, 31);
    const MatrixRM x = random_input(T, s.d_model, 32);
    LayerOptions swa = rope_opts(true);
    swa.window = W;
    const MatrixRM ref = reference_forward(w, x, swa, AttentionForm::kPrefill);
    LayerOptions o = rope_opts(true);
    o.sparse.nsa = {4, 2, 2, 4, W, {}, {}, 4u};  // branches = window only, no gate weights (g = 1)
    for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode, AttentionForm::kBilinear}) {
      if (f == AttentionForm::kBilinear && !has_bilinear(s)) continue;
      INFO(spec << " " << form_name(f));
      CHECK(rel(reference_forward(w, x, o, f), ref) < 1e-12);
    }
  }
}

TEST_CASE("sparse reference: a sink of logit -inf is plain attention, a zero gate halves the output",
          "[kernels][sparse]") {
  const AttentionShape plain = shape_of("gqa:d=16,heads=4,kv=2,hd=4");
  const LayerWeights pw = random_layer_weights(plain, 41);
  const MatrixRM x = random_input(8, 16, 42);
  const LayerOptions o = rope_opts(true);
  const MatrixRM ref = reference_forward(pw, x, o, AttentionForm::kPrefill);
  LayerWeights sw = pw;
  sw.shape.sinks = true;
  sw.tensors["sinks"] = MatrixRM::Constant(4, 1, -kInf);
  LayerWeights hg = pw;  // sigmoid(0) = 1/2 on every head
  hg.shape.gate = OutputGate::kHeadwise;
  hg.tensors["g_proj"] = MatrixRM::Zero(4, 16);
  LayerWeights eg = pw;  // the gate rows of each head's q_proj block are zero
  eg.shape.gate = OutputGate::kElementwise;
  MatrixRM q2 = MatrixRM::Zero(32, 16);
  for (int c = 0; c < 4; ++c) q2.middleRows(c * 8, 4) = pw.at("q_proj").middleRows(c * 4, 4);
  eg.tensors["q_proj"] = q2;
  for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode, AttentionForm::kBilinear}) {
    INFO(form_name(f));
    CHECK(rel(reference_forward(sw, x, o, f), ref) < 1e-12);
    CHECK(rel(reference_forward(hg, x, o, f), ref * 0.5) < 1e-12);
    CHECK(rel(reference_forward(eg, x, o, f), ref * 0.5) < 1e-12);
  }
  // A finite sink takes weight: the output shrinks.
  sw.tensors["sinks"] = MatrixRM::Constant(4, 1, 2.0);
  CHECK(rel(reference_forward(sw, x, o, AttentionForm::kPrefill), ref) > 1e-3);
}

TEST_CASE("sparse reference: one identity head against hand-worked sinks", "[kernels][sparse]") {
  // q = k = v = x, o = I, no RoPE; x0 = e1, x1 = e2. Token 1 scores k0 at 0 and k1 at s = 1/sqrt(2);
  // with a sink L: p_j = e^{s_j} / (1 + e^{s} + e^{L}) (gpt-oss: the sink joins the denominator only).
  LayerWeights w;
  w.shape = shape_of("mha:d=2,heads=1,hd=2");
  w.shape.sinks = true;
  for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj"}) w.tensors[n] = MatrixRM::Identity(2, 2);
  const double L = 0.3;
  w.tensors["sinks"] = MatrixRM::Constant(1, 1, L);
  MatrixRM x(2, 2);
  x << 1, 0, 0, 1;
  const double s = 1.0 / std::sqrt(2.0), den1 = 1 + std::exp(s) + std::exp(L);
  // Token 0: score 1/sqrt(2) for itself, p = e^{s} / (e^{s} + e^{L}).
  MatrixRM expect(2, 2);
  expect << std::exp(s) / (std::exp(s) + std::exp(L)), 0, 1 / den1, std::exp(s) / den1;
  LayerOptions o;
  o.rope.enabled = false;
  for (AttentionForm f : {AttentionForm::kBilinear, AttentionForm::kPrefill, AttentionForm::kDecode}) {
    INFO(form_name(f));
    CHECK(compare(reference_forward(w, x, o, f), expect).max_abs_error < 1e-15);
  }
}

namespace {

// Plain loops for one identity head (q = k = v = x, o = I, no RoPE, scale 1/sqrt(d)), sharing no
// code with sparse.cpp: compressed entries are formed as explicit pooled key and value vectors.
struct Loops {
  MatrixRM x;
  double scale;
  Eigen::RowVectorXd attend(const std::vector<Eigen::RowVectorXd>& keys, const std::vector<Eigen::RowVectorXd>& vals,
                            const Eigen::RowVectorXd& q) const {
    std::vector<double> e;
    double m = -kInf;
    for (const auto& k : keys) m = std::max(m, q.dot(k) * scale);
    double sum = 0;
    for (const auto& k : keys) sum += std::exp(q.dot(k) * scale - m);
    Eigen::RowVectorXd o = Eigen::RowVectorXd::Zero(x.cols());
    for (size_t n = 0; n < keys.size(); ++n) o += std::exp(q.dot(keys[n]) * scale - m) / sum * vals[n];
    return o;
  }
};

LayerWeights identity_head(int64_t d) {
  LayerWeights w;
  w.shape = shape_of(fmt::format("mha:d={},heads=1,hd={}", d, d).c_str());
  for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj"}) w.tensors[n] = MatrixRM::Identity(d, d);
  return w;
}

}  // namespace

TEST_CASE("sparse reference: MoBA, NSA and CSA compression against plain loops", "[kernels][sparse]") {
  const int64_t T = 12, d = 3;
  const LayerWeights w = identity_head(d);
  const MatrixRM x = random_input(T, d, 51) * 1.5;
  const Loops L{x, 1.0 / std::sqrt(static_cast<double>(d))};
  LayerOptions o;
  o.rope.enabled = false;
  const int64_t i = T - 1;
  const Eigen::RowVectorXd q = x.row(i);
  auto mean = [&](int64_t a, int64_t n, const std::vector<double>& wt) {
    Eigen::RowVectorXd m = Eigen::RowVectorXd::Zero(d);
    for (int64_t p = 0; p < n; ++p) m += wt[static_cast<size_t>(p)] * x.row(a + p);
    return m;
  };
  SECTION("MoBA: block 4, k = 2 reads the query's block and the past block of highest mean key") {
    o.sparse.moba = {4, 2};
    int64_t best = 0;
    for (int64_t b = 1; b < 2; ++b) {
      if (q.dot(mean(b * 4, 4, {0.25, 0.25, 0.25, 0.25})) > q.dot(mean(best * 4, 4, {0.25, 0.25, 0.25, 0.25}))) best = b;
    }
    std::vector<Eigen::RowVectorXd> keys;
    for (int64_t j = best * 4; j < best * 4 + 4; ++j) keys.push_back(x.row(j));
    for (int64_t j = 8; j <= i; ++j) keys.push_back(x.row(j));
    const Eigen::RowVectorXd expect = L.attend(keys, keys, q);
    CHECK((reference_forward(w, x, o, AttentionForm::kDecode).row(i) - expect).norm() < 1e-14);
  }
  SECTION("CSA: entries of 3 tokens by softmax(gate . x + ape), a window of 2, one softmax") {
    o.sparse.compress.stride = 3;
    o.sparse.compress.window = 2;
    o.sparse.compress.gate = random_matrix(1, d, 52);
    o.sparse.compress.ape = {0.2, -0.4, 0.1};
    std::vector<Eigen::RowVectorXd> keys;
    for (int64_t e = 0; (e + 1) * 3 <= i + 1; ++e) {
      std::vector<double> z;
      double sum = 0;
      for (int64_t p = 0; p < 3; ++p) {
        z.push_back(std::exp(o.sparse.compress.gate.row(0).dot(x.row(e * 3 + p)) + o.sparse.compress.ape[static_cast<size_t>(p)]));
        sum += z.back();
      }
      for (double& v : z) v /= sum;
      keys.push_back(mean(e * 3, 3, z));  // the pooled key is also the pooled value (q = k = v)
    }
    keys.push_back(x.row(i - 1));
    keys.push_back(x.row(i));
    const Eigen::RowVectorXd expect = L.attend(keys, keys, q);
    for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode, AttentionForm::kBilinear}) {
      CHECK((reference_forward(w, x, o, f).row(i) - expect).norm() < 1e-14);
    }
  }
  SECTION("NSA: l = d = l' = 4, n = 2, w = 3, gated sum of the three branches") {
    // With l = d = l' the importance of selection block b is the compressed weight of entry b.
    o.sparse.nsa = {4, 4, 2, 4, 3, {}, random_matrix(3, d, 53), 7u};
    std::vector<Eigen::RowVectorXd> cmp;
    for (int64_t e = 0; e * 4 + 4 <= i + 1; ++e) cmp.push_back(mean(e * 4, 4, {0.25, 0.25, 0.25, 0.25}));
    const Eigen::RowVectorXd oc = L.attend(cmp, cmp, q);
    int64_t top = 0;  // past blocks 0 and 1: the one whose mean key scores higher
    if (q.dot(cmp[1]) > q.dot(cmp[0])) top = 1;
    std::vector<Eigen::RowVectorXd> sel;
    for (int64_t j = top * 4; j < top * 4 + 4; ++j) sel.push_back(x.row(j));
    for (int64_t j = 8; j <= i; ++j) sel.push_back(x.row(j));
    std::vector<Eigen::RowVectorXd> win;
    for (int64_t j = i - 2; j <= i; ++j) win.push_back(x.row(j));
    auto g = [&](int b) { return 1.0 / (1.0 + std::exp(-o.sparse.nsa.gate.row(b).dot(q))); };
    const Eigen::RowVectorXd expect = g(0) * oc + g(1) * L.attend(sel, sel, q) + g(2) * L.attend(win, win, q);
    for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode, AttentionForm::kBilinear}) {
      CHECK((reference_forward(w, x, o, f).row(i) - expect).norm() < 1e-14);
    }
  }
}

TEST_CASE("sparse reference: the DSA indexer's top-k drives the MLA layer", "[kernels][sparse]") {
  AttentionShape s = shape_of("mla:d=20,heads=3,c=7,qlora=9,nope=5,rope=4,v=3");
  s.index_heads = 2;
  s.index_head_dim = 6;
  const LayerWeights w = random_layer_weights(s, 61);
  const int64_t T = 12;
  const MatrixRM x = random_input(T, 20, 62);
  LayerOptions o = rope_opts(true);
  o.rope.style = RopeStyle::kInterleaved;
  const MatrixRM I = dsa_index_scores(w, x, o);
  // One entry by hand with RoPE off: I(i, j) = sum_h w_h ReLU(q_h . k_j / sqrt(d_I)).
  LayerOptions flat = o;
  flat.rope.enabled = false;
  const MatrixRM I0 = dsa_index_scores(w, x, flat);
  {
    const int64_t i = 7, j = 3;
    Eigen::RowVectorXd ca = x.row(i) * w.at("q_a_proj").transpose();
    ca = ca / std::sqrt(ca.squaredNorm() / 9 + o.norm_eps);
    ca = ca.cwiseProduct(w.at("q_a_layernorm").reshaped().transpose());
    const Eigen::RowVectorXd qi = ca * w.at("indexer.wq_b").transpose();
    Eigen::RowVectorXd k = x.row(j) * w.at("indexer.wk").transpose();
    k = (k.array() - k.mean()).matrix();
    k = k / std::sqrt(k.squaredNorm() / 6 + 1e-6);
    k = k.cwiseProduct(w.at("indexer.k_norm").reshaped().transpose()) + w.at("indexer.k_norm.bias").reshaped().transpose();
    const Eigen::RowVectorXd wt = x.row(i) * w.at("indexer.weights_proj").transpose() / std::sqrt(2.0);
    double v = 0;
    for (int h = 0; h < 2; ++h) v += wt(h) * std::max(0.0, qi.segment(h * 6, 6).dot(k) / std::sqrt(6.0));
    CHECK(I0(i, j) == Approx(v).epsilon(1e-13));
    CHECK(I0(i, i + 1) == -kInf);  // causal
  }
  o.sparse.topk = top_k_selection(I, 4);
  CHECK(o.sparse.topk[2].size() == 3);   // min(k, i + 1)
  CHECK(o.sparse.topk[11].size() == 4);
  check_forms_agree(w, x, o, "DSA top-4 of 12");
  LayerOptions dense = rope_opts(true);
  dense.rope.style = RopeStyle::kInterleaved;
  const MatrixRM full = reference_forward(w, x, dense, AttentionForm::kPrefill);
  const MatrixRM sparse = reference_forward(w, x, o, AttentionForm::kPrefill);
  CHECK(rel(sparse.topRows(4), full.topRows(4)) < 1e-12);  // k >= i + 1: every token is read
  CHECK(rel(sparse.bottomRows(1), full.bottomRows(1)) > 1e-6);  // the checks can fail: 8 of 12 dropped
}

TEST_CASE("sparse reference: bad rules are one-line InputErrors", "[kernels][sparse]") {
  const AttentionShape s = shape_of("mha:d=12,heads=3,hd=4");
  const LayerWeights w = random_layer_weights(s, 71);
  const MatrixRM x = random_input(5, 12, 72);
  auto fails = [&](const LayerOptions& o, const char* text) {
    CHECK_THROWS_WITH(reference_forward(w, x, o, AttentionForm::kPrefill), Catch::Contains(text));
  };
  LayerOptions o;
  o.sparse.topk = {{0}, {0, 1}};
  fails(o, "2 rows");
  o.sparse.topk = {{0}, {2}, {0}, {0}, {0}};
  fails(o, "token 1 selects 2");
  o.sparse.topk = {{0}, {}, {0}, {0}, {0}};
  fails(o, "empty");
  o.sparse = {};
  o.sparse.moba = {2, 1};
  o.window = 3;
  fails(o, "does not compose");
  o.window = 0;
  o.sparse.compress.stride = 2;
  fails(o, "exclusive");
  o.sparse = {};
  o.sparse.nsa = {4, 5, 1, 4, 2, {}, {}, 7u};
  fails(o, "stride d must be in 1..l");
  o.sparse = {};
  o.sparse.compress = {3, 1, MatrixRM::Zero(1, 12), {0.0, 0.1}, 0, {}};
  fails(o, "ape has 2 values");
  // The fast decoder refuses what it does not compute.
  AttentionShape g = s;
  g.sinks = true;
  const LayerWeights gw = random_layer_weights(g, 73);
  CHECK_THROWS_WITH(FastDecoder(gw, LayerOptions{}, 5, CacheDType::kF32, 1, KernelPath::kPortable),
                    Catch::Contains("reference-only"));
  CHECK_THROWS_WITH(dsa_index_scores(gw, x, LayerOptions{}), Catch::Contains("index heads"));
}

TEST_CASE("shared-cache reference: a reader over an owner's cache, in the three forms", "[kernels][sparse]") {
  AttentionShape rs = shape_of("gqa:d=12,heads=4,kv=2,hd=4,bias=1");
  rs.sinks = true;
  rs.gate = OutputGate::kElementwise;
  const LayerWeights reader = random_layer_weights(rs, 81);
  const LayerWeights owner = random_layer_weights(shape_of("gqa:d=12,heads=2,kv=2,hd=4,bias=1"), 82);
  const MatrixRM x = random_input(9, 12, 83), xo = random_input(9, 12, 84);
  const LayerOptions o = rope_opts(true);
  const MatrixRM pre = reference_forward_shared(reader, owner, x, xo, o, AttentionForm::kPrefill);
  DecodeCacheStats st;
  CHECK(rel(reference_forward_shared(reader, owner, x, xo, o, AttentionForm::kDecode, &st), pre) < 1e-12);
  CHECK(rel(reference_forward_shared(reader, owner, x, xo, o, AttentionForm::kBilinear), pre) < 1e-12);
  CHECK(st.elements == 0);  // the reader keeps no cache of its own
  // Rules compose with sharing; their gates keep the layer's width d.
  LayerOptions ro = o;
  ro.sparse.nsa = {4, 2, 2, 4, 3, {}, random_matrix(12, 12, 85), 7u};
  LayerWeights no_sink = reader;  // NSA takes no sink
  no_sink.shape.sinks = false;
  const MatrixRM rpre = reference_forward_shared(no_sink, owner, x, xo, ro, AttentionForm::kPrefill);
  CHECK(rel(reference_forward_shared(no_sink, owner, x, xo, ro, AttentionForm::kDecode), rpre) < 1e-12);
  ro.sparse = {};
  ro.sparse.compress = {2, 3, random_matrix(1, 12, 86), {}, 0, {}};
  CHECK(rel(reference_forward_shared(reader, owner, x, xo, ro, AttentionForm::kBilinear),
            reference_forward_shared(reader, owner, x, xo, ro, AttentionForm::kPrefill)) < 1e-12);
  CHECK(rel(pre, reference_forward_shared(reader, owner, x, x, o, AttentionForm::kPrefill)) > 1e-6);
  // Reading its own cache (owner = itself, same input) is the plain layer.
  CHECK(rel(reference_forward_shared(reader, reader, x, x, o, AttentionForm::kDecode),
            reference_forward(reader, x, o, AttentionForm::kPrefill)) < 1e-12);
  // With the same input, a reader over another layer's cache is the plain layer that has the
  // reader's queries and output and the owner's keys and values.
  LayerWeights mixed = reader;
  for (const char* n : {"k_proj", "v_proj", "k_proj.bias", "v_proj.bias"}) mixed.tensors[n] = owner.at(n);
  CHECK(rel(reference_forward_shared(reader, owner, x, x, o, AttentionForm::kBilinear),
            reference_forward(mixed, x, o, AttentionForm::kPrefill)) < 1e-12);
}

TEST_CASE("shared-cache reference: identity heads against plain loops, and mismatches refused", "[kernels][sparse]") {
  // Reader and owner are identity heads: query x_i, keys and values the owner's inputs x'_j.
  const int64_t d = 3;
  const LayerWeights w = identity_head(d);
  const MatrixRM x = random_input(6, d, 91), xo = random_input(6, d, 92);
  const Loops L{x, 1.0 / std::sqrt(3.0)};
  LayerOptions o;
  o.rope.enabled = false;
  const MatrixRM y = reference_forward_shared(w, w, x, xo, o, AttentionForm::kDecode);
  for (int64_t i = 0; i < 6; ++i) {
    std::vector<Eigen::RowVectorXd> keys;
    for (int64_t j = 0; j <= i; ++j) keys.push_back(xo.row(j));
    CHECK((y.row(i) - L.attend(keys, keys, x.row(i))).norm() < 1e-14);
  }
  const LayerWeights other = random_layer_weights(shape_of("gqa:d=12,heads=4,kv=2,hd=4"), 93);
  CHECK_THROWS_WITH(reference_forward_shared(w, other, x, xo, o, AttentionForm::kPrefill),
                    Catch::Contains("cannot read an owner's cache"));
  CHECK_THROWS_WITH(reference_forward_shared(w, w, x, xo.topRows(5), o, AttentionForm::kPrefill),
                    Catch::Contains("owner input"));
}

TEST_CASE("reference: partial rotary rotates each head's first rotary_dim dims in every form", "[kernels][sparse]") {
  // Qwen3-Next (partial_rotary_factor 0.25): q and k of each head rotate dims [0, r) only, so the
  // other dims score as without RoPE. r = head_dim is plain RoPE; dims [r, h) see no position.
  AttentionShape s = shape_of("gqa:d=16,heads=4,kv=2,hd=8");
  const LayerWeights full = random_layer_weights(s, 101);
  const MatrixRM x = random_input(9, 16, 102);
  const LayerOptions o = rope_opts(true);
  LayerWeights part = full;
  part.shape.rotary_dim = 2;
  check_forms_agree(part, x, o, "rotary_dim 2 of 8");
  LayerWeights same = full;
  same.shape.rotary_dim = 8;
  const MatrixRM ref = reference_forward(full, x, o, AttentionForm::kPrefill);
  CHECK(rel(reference_forward(same, x, o, AttentionForm::kDecode), ref) < 1e-12);
  CHECK(rel(reference_forward(part, x, o, AttentionForm::kDecode), ref) > 1e-6);
  // With only the last dims' weights non-zero in q_proj, partial RoPE scores as no RoPE.
  LayerWeights tail = part;
  for (int c = 0; c < 4; ++c) tail.tensors["q_proj"].middleRows(c * 8, 2).setZero();
  CHECK(rel(reference_forward(tail, x, o, AttentionForm::kBilinear),
            reference_forward(tail, x, rope_opts(false), AttentionForm::kPrefill)) < 1e-12);
}

TEST_CASE("reference: per-layer q/k norms (MiniMax-M2, OLMo 2) in every form", "[kernels][sparse]") {
  // One RMSNorm over the whole q (n h) and k (g h) before RoPE: one scalar per token for all
  // heads, gamma sliced per head. With one head it is the per-head (Qwen3) norm.
  AttentionShape s = shape_of("gqa:d=16,heads=4,kv=2,hd=4");
  s.qk_norm = s.qk_norm_per_layer = true;
  const LayerWeights w = random_layer_weights(s, 111);
  const MatrixRM x = random_input(8, 16, 112);
  check_forms_agree(w, x, rope_opts(true), "per-layer q/k norms");
  AttentionShape one = shape_of("mha:d=8,heads=1,hd=4");
  one.qk_norm = one.qk_norm_per_layer = true;
  const LayerWeights pl = random_layer_weights(one, 113);
  LayerWeights ph = pl;
  ph.shape.qk_norm_per_layer = false;
  const MatrixRM x1 = random_input(7, 8, 114);
  CHECK(rel(reference_forward(pl, x1, rope_opts(true), AttentionForm::kBilinear),
            reference_forward(ph, x1, rope_opts(true), AttentionForm::kPrefill)) < 1e-12);
  LayerWeights bad = w;
  bad.tensors["q_norm"] = MatrixRM::Ones(4, 1);
  CHECK_THROWS_WITH(reference_forward(bad, x, rope_opts(true), AttentionForm::kPrefill),
                    Catch::Contains("'q_norm' is [4, 1], expected [16, 1]"));
}

TEST_CASE("reference: V heads narrower than K heads (MiMo-V2 192/128) in every form", "[kernels][sparse]") {
  AttentionShape s = shape_of("gqa:d=16,heads=4,kv=2,hd=6");
  s.v_head_dim = 4;
  s.sinks = true;
  s.gate = OutputGate::kHeadwise;
  const LayerWeights w = random_layer_weights(s, 121);
  const MatrixRM x = random_input(8, 16, 122);
  check_forms_agree(w, x, rope_opts(true), "K 6, V 4");
  DecodeCacheStats st;
  reference_forward(w, x, rope_opts(true), AttentionForm::kDecode, &st);
  CHECK(st.elements_per_token == 2 * (6 + 4));
  // Zero-padding V to the K width (with o_proj reading zeros there) is the same layer.
  AttentionShape wide = s;
  wide.v_head_dim = 0;
  LayerWeights pw = random_layer_weights(wide, 1);
  for (const auto& [n, t] : w.tensors) pw.tensors[n] = t;
  MatrixRM v = MatrixRM::Zero(12, 16), o = MatrixRM::Zero(16, 24);
  for (int g = 0; g < 2; ++g) v.middleRows(g * 6, 4) = w.at("v_proj").middleRows(g * 4, 4);
  for (int c = 0; c < 4; ++c) o.middleCols(c * 6, 4) = w.at("o_proj").middleCols(c * 4, 4);
  pw.tensors["v_proj"] = v;
  pw.tensors["o_proj"] = o;
  CHECK(rel(reference_forward(pw, x, rope_opts(true), AttentionForm::kBilinear),
            reference_forward(w, x, rope_opts(true), AttentionForm::kPrefill)) < 1e-12);
}
