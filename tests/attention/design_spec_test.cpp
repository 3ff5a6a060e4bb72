#include <catch2/catch.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/attention/weights.hpp"
#include "gmha/core/error.hpp"

using namespace gmha;

namespace {
std::string error_of(const std::string& spec) {
  try {
    parse_design_spec(spec);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("design spec: the issue's examples parse to the intended shapes", "[attention]") {
  auto mfa = parse_design_spec("mfa:d=7168,heads=64,c=256,cq=2048,layers=61");
  CHECK(mfa.layers.size() == 61);
  CHECK(mfa.layers[0].attention.variant == Variant::kMfa);
  CHECK(mfa.layers[0].attention.q_share_dim == 2048);
  auto gqa = parse_design_spec("gqa:d=4096,heads=32,kv=8,hd=128,layers=32");
  CHECK(gqa.layers[0].attention.kv_heads == 8);
  auto mla = parse_design_spec("mla:d=7168,heads=128,c=512,qlora=1536,nope=128,rope=64,v=128,layers=61");
  CHECK(mla.layers[0].attention.kv_lora_rank == 512);
  CHECK(mla.layers[0].attention.q_lora_rank == 1536);
  auto fpba = parse_design_spec("fpba:d=64");
  CHECK(fpba.layers[0].attention.heads == 64);
  auto w = parse_design_spec("gqa:d=4096,heads=32,kv=8,window=4096,kv_dtype=fp8");
  CHECK(w.layers[0].span.kind == SpanKind::kSlidingWindow);
  CHECK(w.layers[0].kv_dtype == DType::kF8E4M3);
}

TEST_CASE("design spec: every output spec string parses back to the same design", "[attention]") {
  for (const char* spec :
       {"gqa:d=4096,heads=32,kv=8,hd=128,layers=32,ffn=14336,vocab=128256",
        "mla:d=7168,heads=128,c=512,qlora=1536,nope=128,rope=64,v=128,layers=61,experts=256/8,expert_ffn=2048,shared=1",
        // the modifiers of docs/designs.md
        "mla:d=7168,heads=128,c=512,qlora=1536,nope=128,rope=64,v=128,layers=4,topk=2048,index_heads=64,index_dim=128",
        "gqa:d=4096,heads=32,kv=1,hd=512,layers=6,compress=4,window=128,topk=512,index_heads=64,index_dim=128,sinks=1",
        "mqa:d=4096,heads=32,hd=512,layers=2,compress=128,window=128,kv_tied=1",
        "gqa:d=2048,heads=32,kv=2,hd=64,layers=3,nsa=32/16/16/64/512,gate=head",
        "gla:d=2048,heads=16,hc=2,c=256,nope=128,rope=64,v=128,layers=2,moba=4096/3,gate=elem",
        "gqa:d=4096,heads=32,kv=8,hd=128,layers=6,share=3,sinks=1",
        "mfa-kr:d=7168,heads=64,c=256,cq=2048,layers=61,chunk=8192,kv_dtype=int4",
        "linear:d=6144,heads=64,hd=128,gate=1", "mqa:d=1024,heads=16", "fpba:d=32"}) {
    INFO(spec);
    const ModelDesign m = parse_design_spec(spec);
    const ModelDesign back = parse_design_spec(m.spec);
    CHECK(back.spec == m.spec);
    CHECK(same_layer(back.layers[0], m.layers[0]));
    CHECK(back.layers.size() == m.layers.size());
  }
  // Homogeneous presets have a spec too, and it reproduces them.
  const ModelDesign llama = read_preset("llama3-8b");
  REQUIRE(!llama.spec.empty());
  CHECK(same_layer(parse_design_spec(llama.spec).layers[0], llama.layers[0]));
  // Qwen3's per-head q/k norms are part of its spec (2 x 128 weights per layer).
  const ModelDesign qwen3 = read_preset("qwen3-32b");
  REQUIRE(qwen3.spec.find(",qk_norm=1") != std::string::npos);
  CHECK(parse_design_spec(qwen3.spec).layers[0].attention.qk_norm);
  CHECK(same_layer(parse_design_spec(qwen3.spec).layers[0], qwen3.layers[0]));
}

TEST_CASE("design spec: impossible designs name the field", "[attention]") {
  CHECK_THAT(error_of("gqa:d=4096,heads=32,kv=7,hd=128"), Catch::Contains("divisible by kv_heads"));
  CHECK_THAT(error_of("gqa:d=4096,heads=0,kv=1"), Catch::Contains("heads must be positive"));
  CHECK_THAT(error_of("gqa:d=-5,heads=2,kv=1"), Catch::Contains("d must be positive"));
  CHECK_THAT(error_of("gqa:d=4096,heads=32,kv=8,window=0"), Catch::Contains("window must be positive"));
  CHECK_THAT(error_of("gqa:d=4096,heads=32,kv=8,kv_dtype=fp7"), Catch::Contains("unknown dtype 'fp7'"));
  CHECK_THAT(error_of("xqa:d=1"), Catch::Contains("unknown variant 'xqa'"));
  CHECK_THAT(error_of("gqa:d=4096,heads=32,kv=8,colour=3"), Catch::Contains("unknown key 'colour'"));
  CHECK_THAT(error_of("gqa:d=4096,heads=32,kv=8,kv=4"), Catch::Contains("given twice"));
  CHECK_THAT(error_of("gqa:d=4096,heads=32,kv=8,hd=12x"), Catch::Contains("not an integer"));
  CHECK_THAT(error_of("gqa:d=99999999999999999999,heads=1,kv=1"), Catch::Contains("overflows 64 bits"));
  CHECK_THAT(error_of("mla:d=7168,heads=128,nope=128"), Catch::Contains("missing key 'c'"));
  CHECK_THAT(error_of("gqa:d=4096,heads=32,kv=8,experts=8/9,expert_ffn=10"),
             Catch::Contains("top-k (9) exceeds the routed experts (8)"));
  // topk= is token selection now: the old MoE spelling names the new one.
  CHECK_THAT(error_of("gqa:d=4096,heads=32,kv=8,experts=8,topk=2,expert_ffn=10"),
             Catch::Contains("experts=E/k"));
  CHECK_THAT(error_of("gqa:d=4096,heads=32,kv=8,topk=2048"), Catch::Contains("needs index_heads= and index_dim="));
  CHECK_THAT(error_of("gqa:d=4096,heads=32,kv=8,window=128,chunk=64"), Catch::Contains("two fill rules"));
  CHECK_THAT(error_of("gqa:d=4096,heads=32,kv=8,nsa=32/16/16/64"), Catch::Contains("l/d/n/l'/w"));
  CHECK_THAT(error_of("mla:d=7168,heads=128,c=512,nope=128,nsa=32/16/16/64/512"),
             Catch::Contains("nsa needs an mha, mqa or gqa layer"));
  CHECK_THAT(error_of("mla:d=7168,heads=128,c=512,nope=128,kv_tied=1"), Catch::Contains("kv_tied=1 applies to mha"));
  CHECK_THAT(error_of("gqa:d=4096,heads=32,kv=8,gate=row"), Catch::Contains("gate must be head or elem"));
  CHECK_THAT(error_of("gqa:d=4096,heads=32,kv=8,compress=1"), Catch::Contains("at least 2"));
  CHECK_THAT(error_of("gqa:d=4097,heads=32,kv=8"), Catch::Contains("not divisible by heads"));
}

TEST_CASE("weights: MLA without query compression uses a plain q_proj", "[attention]") {
  const auto lite = read_preset("deepseek-v2-lite");
  const auto w = attention_weights(lite.layers[0].attention);
  CHECK(w.front().name == "q_proj");
  CHECK(w.front().rows == 16 * 192);
  CHECK(w.front().cols == 2048);
}

TEST_CASE("weights: GQA head c uses KV group c / (n/g) (shapes)", "[attention]") {
  const auto m = parse_design_spec("gqa:d=64,heads=8,kv=2,hd=8");
  const auto w = attention_weights(m.layers[0].attention);
  REQUIRE(w.size() == 4);
  CHECK(w[0].rows == 64);  // q_proj [n*h, d]
  CHECK(w[1].rows == 16);  // k_proj [g*h, d]
  CHECK(w[3].cols == 64);  // o_proj [d, n*h]
  const auto c = cache_streams(m.layers[0].attention);
  CHECK(c.size() == 2);
  CHECK(c[0].width == 16);
}
