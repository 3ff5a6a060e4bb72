// `gmha fit`'s per-token figure under compression and windows (docs/sweep.md, "gmha fit"): what
// one more token of context costs once every window is full (KvGrowth), worked by hand on
// DeepSeek-V4-Flash, and the exact longest-context search on the same model.
#include <catch2/catch.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/capacity/fit.hpp"

using namespace gmha;

namespace {
FitOptions card_with(double memory) {
  FitOptions o;
  o.card = parse_hardware_def("t:price=1,bf16=1e12,bw=1e9,mem=1e6");
  o.memory_per_gpu = memory;
  o.memory_fraction = 1.0;
  return o;
}
}  // namespace

// DeepSeek-V4-Flash (preset): 43 layers over a 512 bf16 latent (1024 B an entry): layers 0-1 a
// window of 128; 21 CSA layers (s = 4, window 128, one 132 B index key per compressed entry) and
// 20 HCA layers (s = 128, window 128). Per sequence, at T a multiple of 128 and T >= 128:
//   windows  2 * 128 * 1024                  =   262,144
//   CSA     21 * (128 * 1024 + T/4 * (1024 + 132))
//   HCA     20 * (128 * 1024 + T/128 * 1024)
// so KV(T) = fixed + g T with g = 21 * 1156 / 4 + 20 * 1024 / 128 = 6069 + 160 = 6229 B per token
// and fixed = 262,144 + 41 * 131,072 = 5,636,096 B. The cache of a one-token sequence, the old
// column, is 43 raw entries = 44,032 B: 7x the growth, and no budget is spent at that rate.
TEST_CASE("fit: KV/token/GPU on DeepSeek-V4-Flash is the growth past the windows", "[capacity][fit]") {
  const ModelDesign m = read_preset("deepseek-v4-flash");
  const FitResult f = compute_fit(m, card_with(1e15));
  const KvGrowth g = kv_growth_per_sequence_per_gpu(f);
  CHECK(g.period == 128);
  CHECK(g.per_token == Approx(6229.0).epsilon(1e-12));
  CHECK(g.fixed == Approx(5636096.0).epsilon(1e-9));
  CHECK(kv_bytes_per_sequence_per_gpu(f, 1) == 44032.0);
  // The identity holds at every multiple of the period past the windows, e.g. T = 131072.
  CHECK(kv_bytes_per_sequence_per_gpu(f, 131072) == 5636096.0 + 6229.0 * 131072);
  // A plain GQA stack grows by its whole row from T = 1 on: growth = KV(1), nothing fixed.
  const FitResult gqa = compute_fit(parse_design_spec("gqa:d=64,heads=4,kv=2,hd=16,layers=2"), card_with(1e6));
  CHECK(kv_growth_per_sequence_per_gpu(gqa).per_token == 256.0);
  CHECK(kv_growth_per_sequence_per_gpu(gqa).fixed == 0.0);
  // A window-only stack stops growing: nothing per token, the full windows fixed.
  const FitResult win =
      compute_fit(parse_design_spec("gqa:d=64,heads=4,kv=2,hd=16,layers=2,window=64"), card_with(1e6));
  CHECK(kv_growth_per_sequence_per_gpu(win).per_token == 0.0);
  CHECK(kv_growth_per_sequence_per_gpu(win).fixed == 64.0 * 256);
}

TEST_CASE("fit: the longest context of DeepSeek-V4-Flash is exact in KV(T)", "[capacity][fit]") {
  // A budget of KV(131072) = 822,083,584 B (+ 0.5 B for rounding in weights + budget) at batch
  // 1: the next bytes are a CSA entry at T = 131076 (floor(T/4) steps at multiples of 4; the
  // HCA entries at multiples of 128, the windows are full), so T = 131073-131075 fit too and
  // the longest context is 131075 — not budget / 6229 = 131,977 from the per-token rate.
  const ModelDesign m = read_preset("deepseek-v4-flash");
  const double weights = compute_fit(m, card_with(1e15)).weights_per_gpu;
  const double kv = 5636096.0 + 6229.0 * 131072;
  REQUIRE(kv == 822083584.0);
  const FitResult f = compute_fit(m, card_with(weights + kv + 0.5));
  REQUIRE(f.max_context.has_value());
  CHECK(*f.max_context == 131075);
  CHECK_FALSE(f.capped_at_model_max);
  // Batch 2: each sequence may hold 411,041,792.25 B. For T = 128 q + r (r < 128) past the
  // windows, KV(T) = 5,636,096 + 797,312 q + 24,276 floor(r/4) (797,312 = 128 g; 24,276 = 4 x
  // 6069, a CSA entry on 21 layers). 405,405,696.25 over 797,312 gives q = 508 and 371,200.25
  // left, which holds floor(r/4) = 15 CSA steps: r = 63, T = 65,087.
  FitOptions o = card_with(weights + kv + 0.5);
  o.batch = 2;
  const FitResult f2 = compute_fit(m, o);
  REQUIRE(f2.max_context.has_value());
  CHECK(*f2.max_context == 65087);
  CHECK(2 * kv_bytes_per_sequence_per_gpu(f2, *f2.max_context) <= f2.kv_budget_per_gpu);
  CHECK(2 * kv_bytes_per_sequence_per_gpu(f2, *f2.max_context + 1) > f2.kv_budget_per_gpu);
}
