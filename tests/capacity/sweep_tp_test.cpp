// The sweep at a tensor-parallel degree (issue 13: "GLA-2 or MFA at 576 cached elements, at TP=4
// ... GLA's point is that its latent shards across TP ranks; MLA's replicates"). One small space
// over gla, mla, gqa, mfa, gta, tpa, worked by hand at TP = 1 and TP = 4 (docs/sweep.md, "Tensor
// parallelism"); run through run_sweep, the call `gmha sweep` makes.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "gmha/capacity/sweep.hpp"

using namespace gmha;

namespace {

// d = 2048, one layer, bf16, T = 8192, 16 query heads; per design (elements per token; TER; core
// attention FLOPs per token as 2 x 16 x T x (qk + pv)):
//   GQA h = 128, g in {2, 4, 8}:  2 g 128 = 512 / 1024 / 2048;  TER 16 x 128 = 2048;  8192 T
//   MFA C = 256, C_q = 1024:       2 C = 512;                   TER 16 x 256 = 4096;  16384 T
//   GTA h = 128, d_R = 64, h_kv in {1, 2, 4, 8, 16}: 128 h_kv + 64 = 192 ... 2112;
//                                                               TER 16 x 64 = 1024;   8192 T
//   MLA C in {256, 512}, nope 128, RoPE 64:  C + 64 = 320 / 576; TER 16 x 128 = 2048; 2 x 16 x T x
//                                  (2C + 64): 18432 T / 34816 T
//   GLA-2 d_c in {256, 512}:       2 d_c + 64 = 576 / 1088;     TER 2048;  18432 T / 34816 T
//   TPA R_Q = R_K = R_V = 2:       (2 + 2)(16 + 128) = 576
// At TP = 4, per device (capacity/fit.hpp, kv_split): GQA g = 2 and g = 4 keep one KV head per
// device, 256; g = 8 two, 512. MFA and MLA replicate: 512; 320 / 576. GTA h_kv = 1, 2, 4: one
// state + the RoPE key, 192. GLA-2 (h_c = 2 < 4): one latent head + the RoPE key, d_c + 64 =
// 320 / 576 — GLA-2 at d_c = 256 has MLA-512's total latent width (512) and 320 / 576 = 5/9 of
// its per-device cache (not half: the RoPE key is on every device). TPA has no TP model: skipped.
SweepOptions space(int64_t tp) {
  SweepOptions o;
  SweepSpace& s = o.space;
  s.d_model = 2048;
  s.layers = 1;
  s.families = {Variant::kGla, Variant::kMla, Variant::kGqa, Variant::kMfa, Variant::kGta, Variant::kTpa};
  s.heads = {16};
  s.head_dims = {128};
  s.mla_latents = {256, 512};
  s.mla_nope = {128};
  s.mla_rope = {64};
  s.mla_q_lora = {0};
  s.gla_latent_heads = {2};
  s.mfa_dims = {256};
  s.mfa_q_share = {1024};
  s.tpa_ranks = {2};
  s.tpa_q_ranks = {2};
  o.context = 8192;
  o.tp = tp;
  o.top = 100;  // every feasible design, to read them back by spec
  return o;
}

std::set<std::string> families(const std::vector<SweepDesign>& v) {
  std::set<std::string> f;
  for (const SweepDesign& d : v) f.insert(d.family);
  return f;
}

const SweepDesign& find(const std::vector<SweepDesign>& v, const std::string& spec_part) {
  for (const SweepDesign& d : v) {
    if (d.spec.find(spec_part) != std::string::npos) return d;
  }
  FAIL("no design with " << spec_part);
  return v.front();
}

}  // namespace

TEST_CASE("sweep at TP 4: GLA-2 shards its latent, MLA replicates (who is on the frontier)",
          "[capacity][sweep][tp]") {
  const SweepResult r = run_sweep(space(4));
  // 3 GQA + 1 MFA + 5 GTA + 2 MLA + 2 GLA shard 4 ways; the one TPA design does not.
  CHECK(r.evaluated == 14);
  CHECK(r.unsharded == 1);
  CHECK(r.feasible == 13);
  const SweepDesign& gla = find(r.ranked, "gla:d=2048,heads=16,hc=2,c=256,");
  const SweepDesign& mla512 = find(r.ranked, "mla:d=2048,heads=16,c=512,");
  const SweepDesign& mla256 = find(r.ranked, "mla:d=2048,heads=16,c=256,");
  CHECK(gla.figures.kv_bytes_per_token == 576 * 2);
  CHECK(mla512.figures.kv_bytes_per_token == 576 * 2);
  CHECK(gla.kv_bytes_per_token_per_device == 320 * 2);
  CHECK(mla512.kv_bytes_per_token_per_device == 576 * 2);
  CHECK(mla256.kv_bytes_per_token_per_device == 320 * 2);
  CHECK(find(r.ranked, "gqa:d=2048,heads=16,kv=2,").kv_bytes_per_token_per_device == 256 * 2);
  // Per device the frontier is MFA (the only TER 4096), GQA g = 2 (2048 at 256 per device and
  // 8192 T) and GTA h_kv = 1 (1024 at 192). GLA-2 (d_c = 256) does beat MLA-512 (same TER, 320 <
  // 576 per device, fewer FLOPs), but MLA-256 ties it on all three axes with fewer projection
  // FLOPs (kv_a [320, d] against [576, d]), and GQA g = 2 beats both (256 per device, 8192 T
  // against 18432 T): neither MLA nor GLA is on the per-device frontier. A GLA layer with h_c
  // latent heads of d_c caches per device what an MLA of latent d_c does, with the same TER;
  // what it adds is cached subspace, SLSD = h_c d_c, which is no axis of this frontier.
  CHECK(families(r.frontier) == std::set<std::string>{"mfa", "gqa", "gta"});
  CHECK(find(r.frontier, "gqa:").spec.find("kv=2,") != std::string::npos);
  CHECK(find(r.frontier, "gta:").spec.find("kv=1,") != std::string::npos);
  for (const SweepDesign& d : r.frontier) INFO(d.spec);

  // That is GLA's point, and the objective that sees it: at a budget of 640 B per token per
  // device, the most cached subspace per family is GLA-2's 512 (d_c = 256, two heads) against
  // MLA's 256 (C = 256; C = 512 needs 1152 B per device).
  SweepOptions o = space(4);
  o.objective = SweepObjective::kSlsd;
  o.budgets.max_kv_bytes_per_token_per_device = 640;
  const SweepResult s = run_sweep(o);
  CHECK(find(s.best, "gla:").figures.ranks.slsd == 512);
  CHECK(find(s.best, "gla:").kv_bytes_per_token_per_device == 640);
  CHECK(find(s.best, "mla:").figures.ranks.slsd == 256);
}

TEST_CASE("sweep at TP 1: the per-token frontier, per device = per token", "[capacity][sweep][tp]") {
  // At TP = 1 every design is kept (TPA too) and the KV axis is the per-token cache: MFA (TER
  // 4096), GQA g = 2 (2048 at 512, 8192 T), MLA-256 (2048 at 320, 18432 T: less cache, more
  // FLOPs than GQA-2), GTA h_kv = 1 (1024 at 192). GLA-2 d_c = 256 (576) is dominated by MLA-256
  // (320, same TER and core FLOPs), MLA-512 by both; TPA (TER bound 2048 at 576, 2 x 16 x T x 4
  // x 129 = 16512 T) by GQA g = 2.
  const SweepResult r = run_sweep(space(1));
  CHECK(r.evaluated == 14);
  CHECK(r.feasible == 14);
  CHECK(r.unsharded == 0);
  CHECK(families(r.frontier) == std::set<std::string>{"mfa", "gqa", "mla", "gta"});
  CHECK(find(r.frontier, "mla:").spec.find("c=256,") != std::string::npos);
  for (const SweepDesign& d : r.ranked) {
    INFO(d.spec);
    CHECK(d.kv_bytes_per_token_per_device == d.figures.kv_bytes_per_token);
  }
}
