// gmha validate's library side: every built-in case passes, presets run reduced, bad options
// are InputErrors.
#include <catch2/catch.hpp>

#include "gmha/core/error.hpp"
#include "gmha/attention/design_spec.hpp"
#include "gmha/kernels/compare.hpp"
#include "gmha/kernels/fill_rule.hpp"
#include "gmha/kernels/reference.hpp"
#include "gmha/kernels/validate.hpp"

using namespace gmha;

TEST_CASE("validate: every built-in variant and form passes on a fresh seed", "[kernels]") {
  ValidateOptions o;
  o.seed = 12345;
  o.tokens = 13;
  const auto rows = run_validation(o);
  // Every built-in design has its decode row; the MFA paper's variants also a bilinear row and
  // two per fast kernel path (fp32 and bf16 caches), the 2025 designs their reference rows only.
  for (const std::string& d : default_validation_designs()) {
    bool decode = false;
    for (const auto& r : rows) decode |= r.design == d && r.check == "decode (double) vs prefill";
    INFO(d);
    CHECK(decode);
  }
  // Five 2025 designs have reference rows only (GTA, GLA, two TPA, MTLA: 8 rows).
  REQUIRE(rows.size() >= (default_validation_designs().size() - 5) * 4 + 8);
  // Every rule runs on the built-in GQA case, in both double forms.
  for (const std::string& rule : validate_rules()) {
    int n = 0;
    for (const auto& r : rows) n += r.design == "gqa:d=30,heads=6,kv=2,hd=10" && r.check.find(", ") != std::string::npos &&
                                   (r.check.find(rule.substr(0, 4)) != std::string::npos || rule.rfind("gate", 0) == 0);
    INFO(rule);
    CHECK(n >= 2);
  }
  for (const auto& r : rows) {
    INFO(r.design << " " << r.check << ": " << r.worst);
    CHECK(r.passed);
    CHECK(r.rel_error > 0);  // the forms are computed separately, never the same numbers
  }
}

TEST_CASE("validate: given rules run on given designs, gpt-oss's sinks and o_proj bias included", "[kernels]") {
  ValidateOptions o;
  o.designs = {"gqa:d=24,heads=4,kv=2,hd=6", "gpt-oss-120b"};
  for (const std::string& r : validate_rules()) {
    if (r != "nsa") o.rules.push_back(r);  // NSA's three softmaxes take no sink: refused on gpt-oss
  }
  o.seed = 5;
  o.tokens = 9;
  const auto rows = run_validation(o);
  size_t rule_rows = 0;
  for (const auto& r : rows) {
    INFO(r.design << " " << r.check << ": " << r.worst);
    CHECK(r.passed);
    rule_rows += r.check.find(", ") != std::string::npos;
  }
  // Per rule: bilinear and decode on the spec, decode only on gpt-oss (reduced d = 256 > 128).
  CHECK(rule_rows == 3 * o.rules.size());
}

TEST_CASE("validate: presets keep their head widths at reduced d and heads", "[kernels]") {
  ValidateOptions o;
  o.designs = {"deepseek-v3"};
  o.seed = 3;
  o.tokens = 5;
  const auto rows = run_validation(o);
  REQUIRE_FALSE(rows.empty());
  CHECK(rows[0].design.find("deepseek-v3 (reduced: d=256, heads=4)") == 0);
  for (const auto& r : rows) CHECK(r.passed);
}

TEST_CASE("validate: bad device, token count or design are InputErrors", "[kernels]") {
  ValidateOptions o;
  o.device = "tpu";
  CHECK_THROWS_AS(run_validation(o), InputError);
  o.device = "cpu";
  o.tokens = 0;
  CHECK_THROWS_AS(run_validation(o), InputError);
  o.tokens = 4;
  o.designs = {"gqa:d=4096,heads=32,kv=8,hd=128"};
  CHECK_THROWS_WITH(run_validation(o), Catch::Contains("too large"));
  o.designs = {"mla:d=20,heads=2,c=6,qlora=0,nope=4,rope=2,v=3"};
  o.rules = {"sinks"};
  CHECK_THROWS_WITH(run_validation(o), Catch::Contains("applies to MHA/MQA/GQA"));
  o.designs = {"gpt-oss-120b"};
  o.rules = {"nsa"};
  CHECK_THROWS_WITH(run_validation(o), Catch::Contains("take no sink"));
  o.rules = {"bogus"};
  CHECK_THROWS_WITH(run_validation(o), Catch::Contains("unknown rule 'bogus'"));
}

TEST_CASE("validate: q/k-norm and gated presets run on the reference", "[kernels]") {
  ValidateOptions o;
  // Per-head q/k norms (GLM-4.5; Qwen3-Next also gated with partial RoPE), per-layer (MiniMax-M2).
  o.designs = {"glm-4.5", "qwen3-next-80b-a3b", "minimax-m2"};
  o.seed = 8;
  o.tokens = 6;
  const auto rows = run_validation(o);
  REQUIRE(rows.size() == 3);  // decode vs prefill each (reduced d = 256: no bilinear; no fast kernel)
  for (const auto& r : rows) CHECK(r.passed);
}

TEST_CASE("validate: a design's fill-rule modifiers reach reference attention", "[kernels]") {
  // Each modifier of docs/designs.md sets the matching reference option, and changes the
  // output (the rule bites at 24 tokens), while the three forms still agree.
  const MatrixRM x = MatrixRM::Random(24, 32);
  for (const char* spec : {"gqa:d=32,heads=4,kv=2,hd=8,moba=4/2", "gqa:d=32,heads=4,kv=2,hd=8,nsa=4/2/2/4/6",
                           "gqa:d=32,heads=4,kv=2,hd=8,compress=4,window=8",
                           "gqa:d=32,heads=4,kv=2,hd=8,topk=6,index_heads=2,index_dim=8",
                           "mla:d=32,heads=4,c=16,qlora=12,nope=8,rope=4,v=8,topk=6,index_heads=2,index_dim=8",
                           "gqa:d=32,heads=4,kv=2,hd=8,window=5"}) {
    INFO(spec);
    const LayerSpec l = parse_design_spec(spec).layers.front();
    const LayerWeights w = random_layer_weights(l.attention, 5);
    LayerOptions dense;
    LayerOptions o;
    apply_fill_rule(l.span, w, x, o, 9);
    CHECK((o.window > 0 || o.sparse.any()));
    const MatrixRM ref = reference_forward(w, x, o, AttentionForm::kPrefill);
    CHECK(compare(reference_forward(w, x, o, AttentionForm::kDecode), ref).passed(1e-10));
    CHECK(compare(reference_forward(w, x, dense, AttentionForm::kPrefill), ref).rel_error > 1e-3);
  }
  LayerOptions o;
  const LayerSpec chunked = parse_design_spec("gqa:d=32,heads=4,kv=2,hd=8,chunk=8").layers.front();
  CHECK_THROWS_WITH(apply_fill_rule(chunked.span, random_layer_weights(chunked.attention, 5), x, o, 9),
                    Catch::Contains("chunk"));
  // gmha validate runs the design's rule: every row passes.
  ValidateOptions v;
  v.designs = {"gqa:d=32,heads=4,kv=2,hd=8,moba=4/2"};
  v.tokens = 24;
  for (const ValidationRow& r : run_validation(v)) CHECK(r.passed);
}

TEST_CASE("validate: K = V tied designs run every form, sinks and gates included", "[kernels]") {
  ValidateOptions o;
  o.designs = {"gqa:d=24,heads=4,kv=2,hd=6,kv_tied=1", "mqa:d=20,heads=5,hd=4,kv_tied=1,sinks=1,gate=head"};
  o.seed = 11;
  o.tokens = 8;
  const auto rows = run_validation(o);
  size_t checks = 0;
  for (const auto& r : rows) {
    INFO(r.design << " " << r.check << ": " << r.worst);
    CHECK(r.passed);
    checks += r.check.rfind("bilinear", 0) == 0 || r.check.rfind("decode (double)", 0) == 0;
  }
  CHECK(checks == 4);  // bilinear and decode against prefill, per design
}
