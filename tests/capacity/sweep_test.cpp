#include "gmha/capacity/sweep.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "gmha/attention/design_spec.hpp"
#include "gmha/capacity/cost.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"

using namespace gmha;

namespace {

// d = 64, 2 layers, 4 heads, h in {16, 32}, families MHA/GQA/MQA: six designs, all by hand.
SweepOptions tiny() {
  SweepOptions o;
  o.space.d_model = 64;
  o.space.layers = 2;
  o.space.families = {Variant::kMha, Variant::kGqa, Variant::kMqa};
  o.space.heads = {4};
  o.space.head_dims = {16, 32};
  o.context = 100;
  return o;
}

std::set<std::string> specs(const std::vector<SweepDesign>& v) {
  std::set<std::string> s;
  for (const auto& d : v) s.insert(d.spec);
  return s;
}

}  // namespace

TEST_CASE("sweep families and objectives parse", "[capacity][sweep]") {
  CHECK(parse_families("gqa,mfa-kr,gqa") == std::vector<Variant>{Variant::kGqa, Variant::kMfaKr});
  CHECK_THROWS_AS(parse_families("gqa,fpba"), InputError);
  std::optional<Hardware> card;
  CHECK(parse_objective("cost:h20", card) == SweepObjective::kCost);
  CHECK(card->name == "h20");
  CHECK_THROWS_AS(parse_objective("cost:nosuchcard", card), InputError);
  CHECK_THROWS_AS(parse_objective("speed", card), InputError);
}

TEST_CASE("sweep: a hand-computed six-design space gives the known frontier and bests",
          "[report][sweep]") {
  SweepOptions o = tiny();
  CHECK(sweep_space_size(o.space) == 6);
  SweepResult r = run_sweep(o);
  CHECK(r.evaluated == 6);
  CHECK(r.feasible == 6);
  // KV per token (bf16, 2 layers) = 2 * g * h * 2 B * 2: MQA h16 128 B (TER 64), MQA h32 256 B
  // (TER 128). Every other design has more KV and no more TER than one of these (GQA h16 g2:
  // 256 B, TER 64, dominated by MQA h16 which also has fewer FLOPs).
  CHECK(specs(r.frontier) ==
        std::set<std::string>{"mqa:d=64,heads=4,hd=16,layers=2,kv_dtype=bf16",
                              "mqa:d=64,heads=4,hd=32,layers=2,kv_dtype=bf16"});
  REQUIRE(r.frontier.size() == 2);
  const SweepDesign& f0 = r.frontier[0];  // by KV ascending
  CHECK(f0.figures.kv_bytes_per_token == 128);
  CHECK(f0.figures.ranks.ter == 64);
  // Params per layer d * (2nh + 2gh) = 64 * (128 + 32) = 10240; x 2 layers.
  CHECK(f0.figures.attn_params == 20480);
  // Core: 2 * n * T * (h + h) * L = 2 * 4 * 100 * 32 * 2 = 51200; linear 2 * 10240 * 2 = 40960.
  CHECK(f0.figures.attn_flops == 51200);
  CHECK(f0.attn_total_flops == 51200 + 40960);
  CHECK(r.frontier[1].figures.kv_bytes_per_token == 256);
  CHECK(r.frontier[1].figures.ranks.ter == 128);
  // Best by TER per family: the h = 32 design of each (TER 128), in family order.
  REQUIRE(r.best.size() == 3);
  CHECK(r.best[0].spec == "mha:d=64,heads=4,hd=32,layers=2,kv_dtype=bf16");
  CHECK(r.best[1].spec == "gqa:d=64,heads=4,kv=2,hd=32,layers=2,kv_dtype=bf16");
  CHECK(r.best[2].spec == "mqa:d=64,heads=4,hd=32,layers=2,kv_dtype=bf16");
  // Overall: TER ties at 128 broken by smaller KV: MQA, then GQA, then MHA.
  REQUIRE(r.ranked.size() == 6);
  CHECK(r.ranked[0].spec == r.best[2].spec);
  CHECK(r.ranked[1].spec == r.best[1].spec);
  CHECK(r.ranked[2].spec == r.best[0].spec);
  // Every reported spec parses back to the same design.
  for (const auto& d : r.ranked) CHECK(parse_design_spec(d.spec).spec == d.spec);
}

TEST_CASE("sweep: budgets filter designs by KV bytes, parameters and FLOPs", "[report][sweep]") {
  SweepOptions o = tiny();
  o.budgets.max_kv_bytes_per_token = 256;  // drops MHA h16 (512), MHA h32, GQA h32 (512)
  SweepResult r = run_sweep(o);
  CHECK(r.feasible == 3);
  REQUIRE(r.best.size() == 2);  // no MHA is feasible
  CHECK(r.best[0].spec == "gqa:d=64,heads=4,kv=2,hd=16,layers=2,kv_dtype=bf16");
  CHECK(r.best[1].spec == "mqa:d=64,heads=4,hd=32,layers=2,kv_dtype=bf16");

  SweepOptions p = tiny();
  p.budgets.max_attn_params = 2 * 64 * (2 * 64 + 2 * 32);  // = GQA h16 g2, the limit is inclusive
  SweepResult rp = run_sweep(p);
  // Feasible: MQA h16 (20480), GQA h16 (24576); MHA h16 is 32768, all h32 designs are larger.
  CHECK(rp.feasible == 2);

  SweepOptions q = tiny();
  q.budgets.max_attn_flops = 51200 + 40960 - 1;  // one FLOP under the cheapest design
  SweepResult rq = run_sweep(q);
  CHECK(rq.feasible == 0);
  CHECK(rq.frontier.empty());
  CHECK(rq.best.empty());
  CHECK(rq.ranked.empty());

  SweepOptions t = tiny();
  t.budgets.min_ter = 128;  // only the h = 32 designs (TER 4 * 32)
  SweepResult rt = run_sweep(t);
  CHECK(rt.feasible == 3);
  CHECK(rt.frontier.size() == 1);  // MQA h32 dominates the other two
}

TEST_CASE("sweep: the frontier equals a brute-force Pareto filter on a mixed space",
          "[report][sweep]") {
  SweepOptions o;
  o.space = default_sweep_space(512, 4);
  o.space.heads = {2, 4, 6, 8};
  o.space.head_dims = {32, 64};
  o.space.mla_latents = {64, 128};
  o.space.mla_nope = {32, 64};
  o.space.mla_rope = {0, 32};
  o.space.mla_q_lora = {0, 256};
  o.space.mfa_dims = {32, 64, 128};
  o.space.mfa_q_share = {64, 128, 256};
  o.context = 4096;
  struct P {
    std::string spec;
    double kv;
    int64_t flops, ter;
  };
  std::vector<P> all;
  for_each_candidate(o.space, [&](const SweepCandidate& c) {
    FastFigures f = fast_figures(c, o);
    all.push_back({candidate_model(c, o.space).spec, f.kv_bytes_per_token,
                   f.attn_flops + f.linear_flops, f.ter});
  });
  // Brute force: keep a point unless another is at least as good in all three keys and better
  // in one; of identical triples keep one (the sweep keeps the fewest-params design).
  std::set<std::tuple<double, int64_t, int64_t>> expected;
  for (const P& a : all) {
    bool dominated = false;
    for (const P& b : all) {
      if (b.kv <= a.kv && b.flops <= a.flops && b.ter >= a.ter &&
          (b.kv < a.kv || b.flops < a.flops || b.ter > a.ter)) {
        dominated = true;
        break;
      }
    }
    if (!dominated) expected.insert({a.kv, a.flops, a.ter});
  }
  SweepResult r = run_sweep(o);
  CHECK(r.evaluated == all.size());
  std::set<std::tuple<double, int64_t, int64_t>> got;
  for (const auto& d : r.frontier) {
    got.insert({d.figures.kv_bytes_per_token, d.attn_total_flops, d.figures.ranks.ter});
  }
  CHECK(got.size() == r.frontier.size());  // each triple once
  CHECK(got == expected);
  CHECK(expected.size() >= 5);  // a frontier worth the name
  // Families all reported: the six of the MFA paper and GTA, GLA, TPA (docs/designs.md).
  CHECK(r.best.size() == 9);
}

TEST_CASE(
    "sweep: the fast path equals compute_figures and compute_cost on a sample of the "
    "default DeepSeek-sized space",
    "[report][sweep]") {
  for (Convention conv : {Convention::kExact, Convention::kStep3Paper}) {
    SweepOptions o;
    o.space = default_sweep_space(7168, 61);
    o.space.kv_dtype = conv == Convention::kExact ? DType::kBF16 : DType::kF8E4M3;
    o.convention = conv;
    o.context = 32768;
    o.card = read_hardware("h20");
    // The cost charges the convention's peak, as compare does: BF16 exact, FP8 step3-paper.
    o.compute_dtype = conv == Convention::kExact ? ComputeDType::kBf16 : ComputeDType::kFp8;
    const std::vector<Hardware> cards{*o.card};
    CapacityOptions co;
    co.context = o.context;
    co.convention = conv;
    uint64_t i = 0, compared = 0;
    std::set<Variant> seen;
    for_each_candidate(o.space, [&](const SweepCandidate& c) {
      if (i++ % 499 != 0) return;
      const FastFigures f = fast_figures(c, o);
      const ModelDesign m = candidate_model(c, o.space);
      const ModelFigures g = compute_figures(m, co);
      INFO(m.spec);
      CHECK(f.ter == g.ranks.ter);
      CHECK(f.slsd == g.ranks.slsd);
      CHECK(f.frh == g.ranks.frh);
      CHECK(f.kv_bytes_per_token == g.kv_bytes_per_token);
      CHECK(f.attn_params == g.attn_params);
      CHECK(f.attn_flops == g.attn_flops);
      CHECK(f.linear_flops == g.linear_flops);
      CHECK(f.attn_usd_per_mtok == compute_cost(g, cards, o.compute_dtype).cards[0].attn_usd_per_mtok);
      seen.insert(c.variant);
      ++compared;
    });
    CHECK(compared > 1000);
    CHECK(seen.size() == 9);  // every default family, GTA, GLA and TPA included
  }
}

TEST_CASE("sweep: the cost objective picks the cheapest feasible design", "[report][sweep]") {
  SweepOptions o;
  o.space = default_sweep_space(1024, 8);
  o.space.heads = {4, 8, 16};
  o.space.head_dims = {64, 128};
  o.space.mla_latents = {128, 256};
  o.space.mla_nope = {64};
  o.space.mla_rope = {0, 32};
  o.space.mla_q_lora = {0};
  o.space.mfa_dims = {64, 128};
  o.space.mfa_q_share = {256, 512};
  o.objective = SweepObjective::kCost;
  o.card = read_hardware("h800");
  o.budgets.max_kv_bytes_per_token = 4096;
  double cheapest = 1e300;
  for_each_candidate(o.space, [&](const SweepCandidate& c) {
    FastFigures f = fast_figures(c, o);
    if (f.kv_bytes_per_token <= 4096) cheapest = std::min(cheapest, f.attn_usd_per_mtok);
  });
  SweepResult r = run_sweep(o);
  REQUIRE(!r.ranked.empty());
  CHECK(r.ranked[0].attn_usd_per_mtok == cheapest);
  CHECK(r.ranked[0].objective == cheapest);
  for (size_t i = 1; i < r.ranked.size(); ++i)
    CHECK(r.ranked[i - 1].objective <= r.ranked[i].objective);
}

TEST_CASE("sweep: impossible spaces are input errors", "[report][sweep]") {
  SweepOptions o = tiny();
  o.space.d_model = 0;
  CHECK_THROWS_AS(run_sweep(o), InputError);
  o = tiny();
  o.space.families.clear();
  CHECK_THROWS_AS(run_sweep(o), InputError);
  o = tiny();
  o.space.head_dims.clear();
  CHECK_THROWS_WITH(run_sweep(o), "head-dims: the grid is empty");
  o = tiny();
  o.objective = SweepObjective::kCost;
  CHECK_THROWS_AS(run_sweep(o), InputError);
  o = tiny();
  o.context = 0;
  CHECK_THROWS_AS(run_sweep(o), InputError);
  // Products overflow 64 bits: an input error, never a wrapped number.
  o = tiny();
  o.space.d_model = int64_t{1} << 40;
  o.space.layers = 100000;
  o.space.head_dims = {1 << 30};
  CHECK_THROWS_AS(run_sweep(o), InputError);
  // Over a billion designs.
  o = tiny();
  o.space.families = {Variant::kMfa};
  o.space.heads = parse_int_ranges("1-5000", "--heads", 1, INT32_MAX);
  o.space.mfa_dims = parse_int_ranges("1-5000", "--mfa-c", 1, INT32_MAX);
  o.space.mfa_q_share = parse_int_ranges("1-100", "--mfa-cq", 1, INT32_MAX);
  CHECK_THROWS_WITH(run_sweep(o), Catch::Contains("narrow the grids"));
}
