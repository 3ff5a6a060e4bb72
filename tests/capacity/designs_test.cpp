// Known answers for the 2025 designs (docs/designs.md), each with its source and arithmetic.
#include <catch2/catch.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/fit.hpp"
#include "gmha/capacity/hardware.hpp"
#include "gmha/capacity/sweep.hpp"
#include "gmha/core/error.hpp"

using namespace gmha;

namespace {
ModelFigures figures(const std::string& spec, int64_t context = 8192) {
  CapacityOptions o;
  o.context = context;
  return compute_figures(parse_design_spec(spec), o);
}
double intensity(const std::string& spec) { return figures(spec).arithmetic_intensity; }
}  // namespace

TEST_CASE("designs: Zadouri et al.'s decode intensities (bf16, one query token)", "[capacity][designs]") {
  // Zadouri, Strauss, Dao 2025 ("Hardware-Efficient Attention for Fast Decoding", §2-3): with
  // L_q = 1, bf16 (2 B per element), intensity ~ 2 g_q / m_kv: MHA ~ 1, MQA ~ h_q, GQA ~ g_q,
  // GTA ~ 2 g_q, MLA ~ 2 h_q, GLA-h_c ~ 2 h_q / h_c. gmha's exact figure is core attention FLOPs
  // over KV bytes read: 2 h_q (qk + pv) / (bytes per cached token). h_q = 32, d_h = 128 here.
  // MHA: 2*32*(128+128) / (2*32*128*2 B) = 16384 / 16384 = 1.
  CHECK(intensity("mha:d=4096,heads=32,hd=128") == 1.0);
  // MQA: 16384 / (2*128*2) = 32 = h_q.
  CHECK(intensity("mqa:d=4096,heads=32,hd=128") == 32.0);
  // GQA h_kv = 8: 16384 / (2*8*128*2) = 4 = g_q.
  CHECK(intensity("gqa:d=4096,heads=32,kv=8,hd=128") == 4.0);
  // GTA h_kv = 8, d_R = 64: 16384 / ((8*128 + 64) * 2) = 16384 / 2176 = 7.529..., i.e. 2 g_q = 8
  // less the RoPE key's share: 8 * 1024 / 1088.
  CHECK(intensity("gta:d=4096,heads=32,kv=8,hd=128,rope=64") == Approx(16384.0 / 2176.0).epsilon(1e-15));
  CHECK(intensity("gta:d=4096,heads=32,kv=8,hd=128,rope=64") == Approx(8.0).epsilon(1.0 / 16));
  // GTA without RoPE is exactly 2 g_q (K = V, one state read once).
  CHECK(intensity("gta:d=4096,heads=32,kv=8,hd=128,rope=0") == 8.0);
  // MLA C = 512, d_R = 64: 2*32*(576 + 512) / (576*2) = 69632 / 1152 = 60.44 ~ 2 h_q = 64.
  CHECK(intensity("mla:d=4096,heads=32,c=512,nope=128,rope=64,v=128") == Approx(69632.0 / 1152.0).epsilon(1e-15));
  // GLA-2, d_c = 256, d_R = 64: 2*32*(320 + 256) / ((2*256 + 64)*2) = 36864 / 1152 = 32 = 2 h_q / h_c.
  CHECK(intensity("gla:d=4096,heads=32,hc=2,c=256,nope=128,rope=64,v=128") == 32.0);
  // GLA-4, d_c = 128: 2*32*(192 + 128) / ((4*128 + 64)*2) = 20480 / 1152 = 17.78 ~ 2*32/4 = 16.
  CHECK(intensity("gla:d=4096,heads=32,hc=4,c=128,nope=128,rope=64,v=128") == Approx(20480.0 / 1152.0).epsilon(1e-15));
  // Step-3 (StepFun 2025) reports fp8 intensities exactly twice the bf16 ones: 1 B per element.
  for (const char* spec : {"mha:d=4096,heads=32,hd=128", "gqa:d=4096,heads=32,kv=8,hd=128",
                           "gta:d=4096,heads=32,kv=8,hd=128,rope=64",
                           "gla:d=4096,heads=32,hc=2,c=256,nope=128,rope=64,v=128"}) {
    INFO(spec);
    CHECK(intensity(std::string(spec) + ",kv_dtype=fp8") == 2 * intensity(spec));
  }
}

TEST_CASE("designs: stored and read bytes, FLOPs per token by hand", "[capacity][designs]") {
  // GTA d = 2048, h_q 16, h_kv 4, d_h 128, d_R 64, 24 layers, bf16, T = 8192.
  const ModelFigures g = figures("gta:d=2048,heads=16,kv=4,hd=128,rope=64,layers=24");
  CHECK(g.kv_bytes_per_token == 576 * 2 * 24);       // (4*128 + 64) elements * 2 B * 24 = 27648
  CHECK(g.kv_bytes == 27648.0 * 8192);                // stored at T
  CHECK(g.decode_kv_bytes_read == 27648.0 * 8192);    // read per decoded token
  CHECK(g.attn_flops == int64_t{2} * 16 * 8192 * 256 * 24);  // 2 h_q T (d_h + d_h) L
  CHECK(g.attn_params == 9568256 * 24);
  // TPA contextual h 16, d_h 128, R 6/2/2: (2 + 2)(16 + 128) = 576 elements; factored decode
  // 2 h T (R_K (d_h + 1) + R_V (d_h + 1)) = 2*16*8192*516 per layer.
  const ModelFigures t = figures("tpa:d=2048,heads=16,hd=128,rq=6,rk=2,rv=2,layers=24");
  CHECK(t.kv_bytes_per_token == 576 * 2 * 24);
  CHECK(t.attn_flops == int64_t{2} * 16 * 8192 * 516 * 24);
  CHECK(!t.ranks.bilinear);
}

TEST_CASE("designs: MTLA stores and reads ceil(T / s) entries", "[capacity][designs]") {
  // Deng & Woodland 2025 (MTLA): s tokens merge into one entry of d_c + d_R; T tokens keep
  // ceil(T / s). d_c 256 + d_R 32 = 288 elements, bf16 576 B per entry, s = 2: 288 B per token.
  const std::string spec = "mtla:d=2048,heads=16,c=256,nope=64,rope=32,v=64,stride=2,layers=24";
  const ModelFigures a = figures(spec, 8192);
  CHECK(a.groups.at(0).stored_tokens == 4096);
  CHECK(a.kv_bytes_per_token == 288.0 * 24);
  CHECK(a.kv_bytes == 576.0 * 4096 * 24);
  CHECK(a.decode_kv_bytes_read == 576.0 * 4096 * 24);
  CHECK(a.attn_flops == int64_t{2} * 16 * 4096 * (288 + 256) * 24);
  const ModelFigures b = figures(spec, 8193);  // one more token opens a new entry
  CHECK(b.groups.at(0).stored_tokens == 4097);
  // s = 2, T = 10: ceil(10 / 2) = 5; s = 3, T = 10: entries 1-3, 4-6, 7-9, 10 -> 4.
  CHECK(cache_entries(parse_design_spec(spec).layers[0].attention, 10) == 5);
  CHECK(cache_entries(parse_design_spec("mtla:d=512,heads=4,c=96,nope=32,rope=16,v=24,stride=3").layers[0].attention,
                      10) == 4);
  // Against MLA of the same shape: the cache is 1/s of it at a multiple of s.
  const ModelFigures m = figures("mla:d=2048,heads=16,c=256,nope=64,rope=32,v=64,layers=24", 8192);
  CHECK(a.kv_bytes * 2 == m.kv_bytes);
}

TEST_CASE("designs: GLA's latent shards across TP ranks, MLA's replicates", "[capacity][designs]") {
  // Zadouri et al. §3.3: GLA-h_c under TP = h_c holds one latent head (d_c) and the RoPE key per
  // device: (d_c + d_R) elements; MLA holds the whole C + d_R on every rank.
  FitOptions o;
  o.card = parse_hardware_def("t:price=1,bf16=1e12,bw=1e9,mem=1e12");
  o.gpus = 2;
  o.context = 1024;
  const FitResult gla = compute_fit(parse_design_spec("gla:d=2048,heads=16,hc=2,c=256,nope=128,rope=64,v=128,layers=2"), o);
  CHECK(gla.groups.at(0).kv_bytes_per_token_per_gpu == (256 + 64) * 2);  // 640 B
  const FitResult mla = compute_fit(parse_design_spec("mla:d=2048,heads=16,c=512,nope=128,rope=64,v=128,layers=2"), o);
  CHECK(mla.groups.at(0).kv_bytes_per_token_per_gpu == (512 + 64) * 2);  // 1152 B, replicated
  // GTA shards its tied states as GQA its KV heads; the RoPE key is on every rank.
  const FitResult gta = compute_fit(parse_design_spec("gta:d=2048,heads=16,kv=4,hd=128,rope=64,layers=2"), o);
  CHECK(gta.groups.at(0).kv_bytes_per_token_per_gpu == (2 * 128 + 64) * 2);
  // TPA and MTLA have no TP model: refused, not guessed.
  CHECK_THROWS_AS(compute_fit(parse_design_spec("tpa:d=2048,heads=16,hd=128,rq=6,rk=2,rv=2"), o), InputError);
}

TEST_CASE("designs: the sweep's frontier holds the new families", "[capacity][designs]") {
  // At d = 2048, 24 layers, 16 heads of 128 and GTA's 27648 B/token budget, contextual TPA
  // (R = 1/1/1: 2 * (16 + 128) = 288 elements, TER bound 16 * 128 = 2048) is Pareto-optimal:
  // GQA reaches TER 2048 only at 2 * 2 * 128 = 512 elements or more.
  SweepOptions o;
  o.space = default_sweep_space(2048, 24);
  o.space.families = {Variant::kGqa, Variant::kGta, Variant::kMla, Variant::kGla, Variant::kTpa};
  o.space.heads = {16};
  o.space.head_dims = {128};
  o.budgets.max_kv_bytes_per_token = 27648;
  const SweepResult r = run_sweep(o);
  REQUIRE(r.best.size() == 5);
  bool tpa_on_frontier = false;
  for (const auto& d : r.frontier) tpa_on_frontier |= d.family == "tpa";
  CHECK(tpa_on_frontier);
  for (const auto& d : r.best) {
    INFO(d.spec);
    CHECK(parse_design_spec(d.spec).spec == d.spec);  // every row reproduces
  }
  CHECK(r.best[1].family == "gta");
  CHECK(r.best[3].family == "gla");
  CHECK(parse_families("gta,gla,tpa") == std::vector<Variant>{Variant::kGta, Variant::kGla, Variant::kTpa});
  CHECK_THROWS_AS(parse_families("mtla"), InputError);  // no sweep grid for the stride yet
}
