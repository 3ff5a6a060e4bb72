#include <catch2/catch.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/capacity/cost.hpp"
#include "gmha/core/error.hpp"

using namespace gmha;

TEST_CASE("cost: attention is max(compute, memory) + linear, FFN compute-bound", "[capacity]") {
  ModelFigures f;
  f.attn_flops = 3000;
  f.decode_kv_bytes_read = 500;
  f.linear_flops = 1000;
  f.ffn_flops = 2000;
  // $3600/h = $1/s; peak 1e3 FLOP/s, bandwidth 1e2 B/s: U_flop = 1e-3 $, U_byte = 1e-2 $.
  Hardware h{"x", 3600, 1e3, 0, 1e2};
  const auto c = compute_cost(f, {h});
  // compute 3000e-3 = 3, memory 500e-2 = 5 -> memory-bound; + linear 1 = 6 $/token.
  CHECK(c.cards[0].bound == "memory");
  CHECK(c.cards[0].attn_usd_per_mtok == Approx(6e6));
  CHECK(c.cards[0].ffn_usd_per_mtok == Approx(2e6));
  CHECK(c.cards[0].total_usd_per_mtok == Approx(8e6));
}

TEST_CASE("cost: FP8 peak is charged where the card has it", "[capacity]") {
  ModelFigures f;
  f.attn_flops = 1000;
  f.decode_kv_bytes_read = 1;
  f.ffn_flops = 1000;
  Hardware bf16_only{"a", 3600, 1e3, 0, 1e6};
  Hardware with_fp8{"b", 3600, 1e3, 2e3, 1e6};
  const auto c = compute_cost(f, {bf16_only, with_fp8});
  CHECK(c.cards[0].ffn_usd_per_mtok == Approx(1e6));
  CHECK(c.cards[1].ffn_usd_per_mtok == Approx(0.5e6));
  CHECK(c.cards[0].bound == "compute");
}

TEST_CASE("cost: AFD takes the cheapest attention card and the cheapest FFN card", "[capacity]") {
  ModelFigures f;
  f.attn_flops = 100;
  f.decode_kv_bytes_read = 1000;  // memory heavy
  f.ffn_flops = 1000;
  Hardware fast_mem{"mem", 3600, 1e2, 0, 1e4};     // attention: max(1, 0.1) = 1; ffn 10
  Hardware fast_flops{"flops", 3600, 1e4, 0, 1e2};  // attention: max(0.01, 10) = 10; ffn 0.1
  const auto c = compute_cost(f, {fast_mem, fast_flops});
  CHECK(c.afd_attn_card == "mem");
  CHECK(c.afd_ffn_card == "flops");
  CHECK(c.afd_usd_per_mtok == Approx((1 + 0.1) * 1e6));
}

TEST_CASE("cost: roofline bounds on H20 follow arithmetic intensity vs the ridge", "[capacity]") {
  // H20 ridge = 2.96e14 / 4e12 = 74 FLOP/B. Step-3 (AI 128) and DeepSeek-V3 (AI 512) are
  // compute-bound there; Qwen3-235B (AI 32) is memory-bound (Step-3 paper §4).
  const Hardware h20 = read_hardware("h20");
  CHECK(h20.ridge() == Approx(74.0));
  auto bound = [&](const char* preset) {
    ModelDesign m = read_preset(preset);
    apply_step3_paper_precision(m);
    return compute_cost(compute_figures(m, {32768, 1, Convention::kStep3Paper}), {h20}).cards[0];
  };
  CHECK(bound("step3").bound == "compute");
  CHECK(bound("deepseek-v3").bound == "compute");
  CHECK(bound("qwen3-235b-a22b").bound == "memory");
  CHECK(bound("step3").attn_usd_per_mtok < bound("deepseek-v3").attn_usd_per_mtok);
}

TEST_CASE("cost: MoE sparsity floor per the Step-3 paper's formula", "[capacity]") {
  // H800: 7168 * 1.98e15 * 61 / (4e11 * 3.35e12 * 0.0111) = 0.0582...
  const double s = moe_sparsity_floor(read_hardware("h800"), 7168, 61);
  CHECK(s == Approx(7168.0 * 1.98e15 * 61 / (4e11 * 3.35e12 * 0.0111)));
  Hardware no_net{"n", 1, 1, 0, 1};
  CHECK_THROWS_AS(moe_sparsity_floor(no_net, 1, 1), InputError);
}

TEST_CASE("hardware: custom cards parse and bad ones are rejected with the field", "[capacity]") {
  const Hardware h = parse_hardware_def("mine:price=1.5,bf16=5e14,fp8=1e15,bw=4e12");
  CHECK(h.name == "mine");
  CHECK(h.peak_flops() == 1e15);
  CHECK_THROWS_AS(parse_hardware_def("mine:price=1.5,bw=4e12"), InputError);
  CHECK_THROWS_AS(parse_hardware_def("mine:price=x,bf16=1,bw=1"), InputError);
  CHECK_THROWS_AS(parse_hardware_def("mine:price=1,bf16=1,bw=1,speed=3"), InputError);
  CHECK_THROWS_AS(read_hardware("h9000"), InputError);
}
