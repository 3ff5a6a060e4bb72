#include "gmha/capacity/fit.hpp"

#include <catch2/catch.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/core/error.hpp"

using namespace gmha;

namespace {

// A card with exactly 1,000,000 bytes and all of it usable, so answers are hand-checkable.
FitOptions tiny_card(int64_t gpus) {
  FitOptions o;
  o.card = parse_hardware_def("t:price=1,bf16=1e12,bw=1e9,mem=1e6");
  o.gpus = gpus;
  o.memory_fraction = 1.0;
  return o;
}

}  // namespace

TEST_CASE("fit: a hand-computed GQA design on one GPU", "[report][fit]") {
  // gqa d=64, n=4, g=2, h=16, 2 layers, bf16. Params per layer d*(2nh + 2gh) = 64*192 = 12288;
  // norms d*(2L+1) = 320; total 24896 elements = 49792 B. KV per token 2*g*h*2 B*L = 256 B.
  const ModelDesign m = parse_design_spec("gqa:d=64,heads=4,kv=2,hd=16,layers=2");
  FitOptions o = tiny_card(1);
  o.context = 1000;
  const FitResult f = compute_fit(m, o);
  CHECK(f.weights_per_gpu == 49792);
  CHECK(f.weights_total == 49792);
  CHECK(f.kv_budget_per_gpu == 1e6 - 49792);
  REQUIRE(f.max_context.has_value());
  CHECK(*f.max_context == 3711);  // 3711 * 256 = 950016 <= 950208 < 3712 * 256
  CHECK(f.max_batch == 3);        // 950208 / (1000 * 256)
  CHECK(f.kv_per_gpu == 256000);
  CHECK(f.free_per_gpu == 1e6 - 49792 - 256000);
  REQUIRE(f.groups.size() == 1);
  CHECK(f.groups[0].kv_heads_per_gpu == 2);
}

TEST_CASE("fit: GQA KV heads split until g < N, then replicate", "[report][fit]") {
  const ModelDesign m = parse_design_spec("gqa:d=64,heads=4,kv=2,hd=16,layers=2");
  // N = 2: one KV head per rank. Per layer q 2048 + k 1024 + v 1024 + o 2048 = 6144; x2 + 320.
  FitResult f2 = compute_fit(m, tiny_card(2));
  CHECK(f2.weights_per_gpu == (2 * 6144 + 320) * 2);
  CHECK(f2.groups[0].kv_heads_per_gpu == 1);
  CHECK(f2.groups[0].kv_replication == 1);
  CHECK(f2.groups[0].kv_bytes_per_token_per_gpu == 64);  // 2 * 16 * 1 * 2 B
  CHECK(*f2.max_context == 7615);                        // (1e6 - 25216) / 128
  // N = 4: g = 2 < 4, each KV head on 2 ranks; the per-rank cache stops shrinking.
  FitResult f4 = compute_fit(m, tiny_card(4));
  CHECK(f4.groups[0].kv_heads_per_gpu == 1);
  CHECK(f4.groups[0].kv_replication == 2);
  CHECK(f4.groups[0].kv_bytes_per_token_per_gpu == 64);
  CHECK(f4.weights_per_gpu == (2 * 4096 + 320) * 2);
  CHECK(*f4.max_context == 7679);                             // (1e6 - 17024) / 128
  CHECK_THROWS_AS(compute_fit(m, tiny_card(3)), InputError);  // 4 heads do not split 3 ways
  CHECK_THROWS_AS(compute_fit(m, tiny_card(8)), InputError);
}

TEST_CASE("fit: MFA's single K/V head and down-projections replicate on every rank",
          "[report][fit]") {
  const ModelDesign m = parse_design_spec("mfa:d=64,heads=4,c=16,cq=32,layers=1");
  FitResult f1 = compute_fit(m, tiny_card(1));
  FitResult f2 = compute_fit(m, tiny_card(2));
  CHECK(f1.groups[0].kv_bytes_per_token_per_gpu == 64);  // 2C * 2 B
  CHECK(f2.groups[0].kv_bytes_per_token_per_gpu == 64);  // not halved
  CHECK(f2.groups[0].kv_replication == 2);
  // Rank share: q_proj 2048 + inter_norm 32 + k 1024 + v 1024 (replicated) + wq 2048/2 +
  // o 4096/2, plus norms 3 * 64.
  CHECK(f2.weights_per_gpu == (2048 + 32 + 1024 + 1024 + 1024 + 2048 + 192) * 2);
  CHECK(f1.weights_per_gpu == (2048 + 32 + 1024 + 1024 + 2048 + 4096 + 192) * 2);
  // MLA likewise keeps its whole latent (C + rope) per rank.
  const ModelDesign mla =
      parse_design_spec("mla:d=64,heads=4,c=32,qlora=0,nope=16,rope=8,layers=1");
  CHECK(compute_fit(mla, tiny_card(4)).groups[0].kv_bytes_per_token_per_gpu == (32 + 8) * 2);
}

TEST_CASE("fit: on one GPU the weights are the capacity figures' parameters", "[report][fit]") {
  for (const char* name : {"deepseek-v3", "step3", "qwen3-235b-a22b", "llama3-8b", "minimax-m1",
                           "gemma2-9b", "llama4-maverick"}) {
    INFO(name);
    const ModelDesign m = read_preset(name);
    FitOptions o;
    o.card = read_hardware("h200");
    o.gpus = 1;
    o.memory_per_gpu = 1e15;  // room for anything: check the accounting, not the verdict
    const FitResult f = compute_fit(m, o);
    const ModelFigures fig = compute_figures(m, {});
    CHECK(f.weights_per_gpu == Approx(2.0 * static_cast<double>(fig.total_params)).epsilon(1e-12));
    // KV per sequence at T on one GPU equals the figures' whole cache at T x 1 for full layers.
    CapacityOptions co;
    co.context = 4096;  // below every window and chunk, so all spans hold T tokens
    const ModelFigures at = compute_figures(m, co);
    CHECK(kv_bytes_per_sequence_per_gpu(f, 4096) == Approx(at.kv_bytes).epsilon(1e-12));
  }
}

TEST_CASE("fit: windowed models fit any context, weights that do not fit leave nothing",
          "[report][fit]") {
  const ModelDesign w = parse_design_spec("gqa:d=64,heads=4,kv=2,hd=16,layers=2,window=100");
  CHECK_FALSE(compute_fit(w, tiny_card(1)).max_context.has_value());
  FitOptions small = tiny_card(1);
  small.memory_per_gpu = 40000;  // under the 49792 B of weights
  const FitResult f = compute_fit(parse_design_spec("gqa:d=64,heads=4,kv=2,hd=16,layers=2"), small);
  CHECK_FALSE(f.weights_fit);
  CHECK(f.max_batch == 0);
  REQUIRE(f.max_context.has_value());
  CHECK(*f.max_context == 0);
  CHECK(f.free_per_gpu < 0);
}

TEST_CASE("fit: MoE sparsity counts shared experts as active and total", "[report][fit]") {
  CHECK(*moe_sparsity(read_preset("deepseek-v3")) == Approx(9.0 / 257.0));
  CHECK_FALSE(moe_sparsity(read_preset("llama3-8b")).has_value());
}

TEST_CASE("fit: impossible requests are input errors", "[report][fit]") {
  const ModelDesign m = parse_design_spec("gqa:d=64,heads=4,kv=2,hd=16,layers=2");
  FitOptions o = tiny_card(1);
  o.card.memory_bytes = 0;
  CHECK_THROWS_WITH(compute_fit(m, o), Catch::StartsWith("memory: card "));
  o = tiny_card(0);
  CHECK_THROWS_AS(compute_fit(m, o), InputError);
  o = tiny_card(1);
  o.memory_fraction = 1.5;
  CHECK_THROWS_AS(compute_fit(m, o), InputError);
  o = tiny_card(1);
  o.batch = 0;
  CHECK_THROWS_AS(compute_fit(m, o), InputError);
}
