// The 2025 designs (docs/designs.md): GTA, GLA, TPA, MTLA in the --design grammar, their concrete
// weights and cache vectors, and their nominal ranks, each worked by hand.
#include <catch2/catch.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/weights.hpp"
#include "gmha/core/error.hpp"

using namespace gmha;

namespace {
AttentionShape shape_of(const std::string& spec) { return parse_design_spec(spec).layers.at(0).attention; }

std::string error_of(const std::string& spec) {
  try {
    parse_design_spec(spec);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

int64_t cached(const AttentionShape& s) { return attention_counts(s).cached_elements; }
}  // namespace

TEST_CASE("designs: every new spec round-trips through its canonical string", "[attention][designs]") {
  for (const char* spec :
       {"gta:d=2048,heads=16,kv=4,hd=128,rope=64,layers=24", "gta:d=512,heads=8,kv=2,hd=64,rope=0",
        "gla:d=2048,heads=16,hc=2,c=256,nope=128,rope=64,v=128,layers=24,kv_dtype=fp8",
        "gla:d=7168,heads=128,hc=4,c=256,qlora=1536,nope=128,rope=64,v=128,layers=61",
        "tpa:d=2048,heads=16,hd=128,rq=6,rk=2,rv=2,layers=24",
        "tpa:d=2048,heads=16,hd=128,rq=16,rk=16,rv=16,noncontextual=1",
        "mtla:d=2048,heads=16,c=256,nope=64,rope=32,v=64,stride=2,layers=24,window=4096"}) {
    INFO(spec);
    const ModelDesign m = parse_design_spec(spec);
    const ModelDesign back = parse_design_spec(m.spec);
    CHECK(back.spec == m.spec);
    CHECK(same_layer(back.layers[0], m.layers[0]));
  }
  // GTA's RoPE width defaults to half the head (Zadouri et al. rotate d_h / 2 dims).
  CHECK(shape_of("gta:d=2048,heads=16,kv=4,hd=128").qk_rope_dim == 64);
  CHECK(shape_of("gta:d=24,heads=4,kv=2,hd=6").qk_rope_dim == 2);  // 6 / 2 = 3, rounded down to even
  CHECK(!shape_of("tpa:d=64,heads=4,rq=1,rk=1,rv=1").tpa_noncontextual);
  CHECK(shape_of("tpa:d=64,heads=4,rq=1,rk=1,rv=1,noncontextual=1").tpa_noncontextual);
}

TEST_CASE("designs: impossible new designs name the field", "[attention][designs]") {
  CHECK_THAT(error_of("gta:d=2048,heads=16,kv=5,hd=128"), Catch::Contains("divisible by kv_heads"));
  CHECK_THAT(error_of("gta:d=2048,heads=16,kv=4,hd=64,rope=64"), Catch::Contains("must be below hd"));
  CHECK_THAT(error_of("gta:d=2048,heads=16,kv=4,hd=64,rope=7"), Catch::Contains("odd"));
  CHECK_THAT(error_of("gla:d=2048,heads=16,hc=3,c=256,nope=128,rope=64"), Catch::Contains("divisible by hc"));
  CHECK_THAT(error_of("gla:d=2048,heads=16,c=256,nope=128,rope=64"), Catch::Contains("missing key 'hc'"));
  CHECK_THAT(error_of("tpa:d=2048,heads=16,hd=128,rq=6,rk=2"), Catch::Contains("missing key 'rv'"));
  CHECK_THAT(error_of("tpa:d=2048,heads=16,hd=128,rq=6,rk=0,rv=2"), Catch::Contains("rk must be positive"));
  CHECK_THAT(error_of("mtla:d=2048,heads=16,c=256,nope=64,rope=32"), Catch::Contains("missing key 'stride'"));
  CHECK_THAT(error_of("mtla:d=2048,heads=16,c=3,nope=64,rope=32,stride=2"), Catch::Contains("needs c >= 4"));
  CHECK_THAT(error_of("mtla:d=2048,heads=16,c=256,nope=64,rope=32,stride=2,hc=2"),
             Catch::Contains("unknown key 'hc' for mtla"));
}

TEST_CASE("designs: GTA weights, cache and ranks by hand", "[attention][designs]") {
  // h_q = 16, h_kv = 4, d_h = 128, d_R = 64, d = 2048 (Zadouri et al.'s GTA layout).
  const AttentionShape s = shape_of("gta:d=2048,heads=16,kv=4,hd=128,rope=64");
  const auto w = attention_weights(s);
  REQUIRE(w.size() == 4);
  CHECK(w[0].name == "q_proj");       // [16*128, 2048]
  CHECK(w[0].rows == 2048);
  CHECK(w[1].name == "kv_proj");      // [4*128, 2048]: the tied states
  CHECK(w[1].rows == 512);
  CHECK(w[2].name == "k_rope_proj");  // [64, 2048]: one RoPE key for all heads
  CHECK(w[2].rows == 64);
  // 2048*2048 + 512*2048 + 64*2048 + 2048*2048 = 4194304 + 1048576 + 131072 + 4194304
  CHECK(attention_counts(s).params == 9568256);
  CHECK(cached(s) == 4 * 128 + 64);  // h_kv d_h + d_R = 576 (vs GQA's 2 h_kv d_h = 1024)
  const CapacityRanks r = capacity_ranks(s);
  CHECK(r.frh == 64);         // d_h - d_R
  CHECK(r.slsd == 256);       // h_kv (d_h - d_R)
  CHECK(r.slsd_head == 64);
  CHECK(r.ter == 16 * 64);    // h_q FRH
  CHECK(r.vo_rank == 128);    // V is the whole tied state
  // Without RoPE there is no RoPE key: the cache is one tied K = V per group.
  const AttentionShape n = shape_of("gta:d=2048,heads=16,kv=4,hd=128,rope=0");
  CHECK(cached(n) == 512);
  CHECK(capacity_ranks(n).frh == 128);
}

TEST_CASE("designs: GLA weights, cache and SLSD_head < SLSD_layer by hand", "[attention][designs]") {
  // h_q = 16, h_c = 2 latent heads of d_c = 256, nope 128, rope 64, v 128, d = 2048, no q_lora.
  const AttentionShape s = shape_of("gla:d=2048,heads=16,hc=2,c=256,nope=128,rope=64,v=128");
  // q_proj 16*192*2048 = 6291456; kv_a (2*256 + 64)*2048 = 1179648; kv_a_layernorm 512;
  // kv_b 16*(128+128)*256 = 1048576; o_proj 2048*16*128 = 4194304.
  CHECK(attention_counts(s).params == 6291456 + 1179648 + 512 + 1048576 + 4194304);
  CHECK(cached(s) == 2 * 256 + 64);  // h_c d_c + d_R
  const CapacityRanks r = capacity_ranks(s);
  CHECK(r.frh == 128);
  CHECK(r.slsd == 512);       // SLSD_layer = h_c d_c
  CHECK(r.slsd_head == 256);  // SLSD_head = d_c: one head reads its group's latent only
  CHECK(r.ter == 16 * 128);
  // GLA with h_c = 1 has MLA's weights, cache and ranks exactly.
  const AttentionShape g1 = shape_of("gla:d=512,heads=4,hc=1,c=96,qlora=128,nope=32,rope=16,v=24");
  const AttentionShape mla = shape_of("mla:d=512,heads=4,c=96,qlora=128,nope=32,rope=16,v=24");
  const auto wg = attention_weights(g1), wm = attention_weights(mla);
  REQUIRE(wg.size() == wm.size());
  for (size_t i = 0; i < wg.size(); ++i) {
    CHECK(wg[i].name == wm[i].name);
    CHECK(wg[i].rows == wm[i].rows);
    CHECK(wg[i].cols == wm[i].cols);
  }
  CHECK(cached(g1) == cached(mla));
  CHECK(capacity_ranks(g1).ter == capacity_ranks(mla).ter);
}

TEST_CASE("designs: TPA cache is the paper's Table 1 and its ranks are bounds", "[attention][designs]") {
  // Zhang et al. 2025, Table 1: KV cache per token (R_K + R_V)(h + d_h) for TPA and
  // (R_K + R_V) d_h with non-contextual head factors; with h = 32, d_h = 64, R_K = R_V = 2:
  // 4 * 96 = 384 and 4 * 64 = 256, against MHA's 2 h d_h = 4096.
  const AttentionShape t = shape_of("tpa:d=2048,heads=32,hd=64,rq=6,rk=2,rv=2");
  const AttentionShape nc = shape_of("tpa:d=2048,heads=32,hd=64,rq=6,rk=2,rv=2,noncontextual=1");
  CHECK(cached(t) == 384);
  CHECK(cached(nc) == 256);
  CHECK(cached(shape_of("mha:d=2048,heads=32,hd=64")) == 4096);
  // Weights: W_A_q 6*32 x 2048, W_B_q 6*64 x 2048, W_A_k/W_A_v 2*32 x 2048, W_B_k/W_B_v 2*64 x
  // 2048, o_proj 2048 x 2048: (192 + 384 + 64 + 128 + 64 + 128 + 2048) * 2048.
  CHECK(attention_counts(t).params == (192 + 384 + 64 + 128 + 64 + 128 + 2048) * 2048);
  // Non-contextual: the head factors are constants A_q [6*32], A_k, A_v [2*32] (no matmul).
  CHECK(attention_counts(nc).params == (384 + 128 + 128 + 2048) * 2048 + 192 + 64 + 64);
  CHECK(attention_counts(nc).decode_matmul == (384 + 128 + 128 + 2048) * 2048);
  const CapacityRanks r = capacity_ranks(t);
  CHECK(!r.bilinear);  // contextual TPA is outside the bilinear GMHA form
  CHECK(capacity_ranks(nc).bilinear);
  CHECK(r.frh == 64);
  CHECK(r.slsd == 2 * 64);  // R_K d_h
  CHECK(r.slsd_head == 64);
  CHECK(r.ter == 32 * 64);
  // Factored decode widths: R (d_h + 1) contextual, R d_h non-contextual.
  CHECK(decode_widths(t, Convention::kExact).qk_width == 2 * 65);
  CHECK(decode_widths(nc, Convention::kExact).pv_width == 2 * 64);
}

TEST_CASE("designs: MTLA is MLA per entry plus the merge hyper-network", "[attention][designs]") {
  const AttentionShape s = shape_of("mtla:d=512,heads=4,c=96,nope=32,rope=16,v=24,stride=3");
  const AttentionShape mla = shape_of("mla:d=512,heads=4,c=96,nope=32,rope=16,v=24");
  CHECK(cached(s) == cached(mla));  // 96 + 16 per entry; figures divide tokens by s
  // The hyper-network: fc_c and fc_p are [96/4, 96] with biases (2 * (24*96 + 24)), and
  // MTLA.py's LayerNorm adds a bias of 96 to kv_a's norm.
  CHECK(attention_counts(s).params == attention_counts(mla).params + 2 * (24 * 96 + 24) + 96);
  CHECK(capacity_ranks(s).ter == capacity_ranks(mla).ter);
}
