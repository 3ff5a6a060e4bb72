// Known answers from the Step-3 paper (StepFun, "Step-3 is Large yet Affordable: Model-system
// Co-design for Cost-effective Decoding", arXiv 2507.19427v1): Table 2 (8K) and Table 3 (32K),
// per decoded token: KV/state bytes read, core attention FLOPs, linear FLOPs around attention,
// FFN FLOPs; Table 6, attention and FFN cost per 1M tokens on H800, H20, A800 and Ascend 910B;
// Table 4's rooflines; §4.2 Observation 1's deployment totals. Every value is checked to the
// paper's printed precision: gmha's figure must round to the printed one.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "gmha/attention/presets.hpp"
#include "gmha/capacity/cost.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/hardware.hpp"

using namespace gmha;

namespace {

// Half a unit of the last printed digit, as a relative epsilon on the printed value.
// Tables 2 and 3 print 3 significant figures (2.88e8); Table 6 prints 3 decimals (0.054).
Approx sig3(double printed) {
  const double unit = std::pow(10.0, std::floor(std::log10(printed)) - 2);
  return Approx(printed).epsilon(0.5 * unit / printed);
}
Approx dec3(double printed) { return Approx(printed).epsilon(0.0005 / printed); }

struct PaperRow {
  const char* preset;
  double kv[2];           // KV/state memory access, bytes: Table 2 (8K), Table 3 (32K)
  double attn[2];         // attention computation without linear, FLOPs
  double linear;          // linear before and after attention, FLOPs (same in both tables)
  double ffn;             // FFN computation, FLOPs (same in both tables)
  double attn_usd[2][4];  // Table 6: attention per 1M tokens, 8K then 32K; H800, H20, A800, 910B
  double ffn_usd[4];      // Table 6: FFN per 1M tokens
};

// The paper's rows in its order; Table 6 reuses the same models.
const std::vector<PaperRow>& paper_rows() {
  // clang-format off
  static const std::vector<PaperRow> rows = {
      {"deepseek-v3", {2.88e8, 1.15e9}, {1.47e11, 5.89e11}, 2.28e10, 4.84e10,
       {{0.054, 0.128, 0.114, 0.113}, {0.197, 0.460, 0.409, 0.407}}, {0.014, 0.036, 0.032, 0.032}},
      {"kimi-k2", {2.88e8, 1.15e9}, {7.37e10, 2.95e11}, 1.23e10, 4.84e10,
       {{0.051, 0.065, 0.057, 0.057}, {0.194, 0.231, 0.205, 0.204}}, {0.014, 0.036, 0.032, 0.032}},
      {"qwen3-235b-a22b", {7.89e8, 3.15e9}, {2.52e10, 1.01e11}, 1.34e10, 2.84e10,
       {{0.135, 0.054, 0.091, 0.101}, {0.527, 0.185, 0.338, 0.376}}, {0.008, 0.021, 0.019, 0.019}},
      {"qwen3-32b", {1.07e9, 4.29e9}, {1.72e10, 6.87e10}, 1.21e10, 5.03e10,
       {{0.181, 0.069, 0.120, 0.133}, {0.716, 0.248, 0.455, 0.508}}, {0.014, 0.038, 0.034, 0.033}},
      {"llama4-maverick", {1.01e9, 2.21e9}, {8.05e9, 1.41e10}, 6.04e9, 2.42e10,
       {{0.169, 0.060, 0.109, 0.121}, {0.369, 0.128, 0.235, 0.262}}, {0.007, 0.018, 0.016, 0.016}},
      {"minimax-m1", {9.23e8, 1.93e9}, {3.42e9, 1.15e10}, 3.75e10, 5.44e10,
       {{0.164, 0.079, 0.121, 0.132}, {0.330, 0.135, 0.226, 0.249}}, {0.015, 0.041, 0.036, 0.036}},
      {"ernie-4.5-300b-a47b", {9.06e8, 3.62e9}, {1.45e10, 5.80e10}, 1.63e10, 7.61e10,
       {{0.155, 0.063, 0.105, 0.116}, {0.606, 0.214, 0.388, 0.432}}, {0.021, 0.057, 0.051, 0.051}},
      {"pangu-pro-moe", {8.05e8, 3.22e9}, {8.05e9, 3.22e10}, 6.04e9, 2.38e10,
       {{0.135, 0.049, 0.088, 0.098}, {0.536, 0.183, 0.340, 0.379}}, {0.007, 0.018, 0.016, 0.016}},
      {"step3", {2.56e8, 1.02e9}, {3.27e10, 1.31e11}, 2.07e10, 5.33e10,
       {{0.048, 0.040, 0.040, 0.043}, {0.176, 0.114, 0.120, 0.133}}, {0.015, 0.040, 0.036, 0.035}},
  };
  // clang-format on
  return rows;
}

const int64_t kContexts[2] = {8192, 32768};

std::vector<Hardware> paper_cards() {
  return {read_hardware("h800"), read_hardware("h20"), read_hardware("a800"),
          read_hardware("ascend-910b")};
}

// What `gmha compare --convention step3-paper` computes.
ModelFigures paper_figures(const std::string& preset, int64_t context) {
  ModelDesign m = read_preset(preset);
  apply_step3_paper_precision(m);
  return compute_figures(m, {context, 1, Convention::kStep3Paper});
}

}  // namespace

TEST_CASE("step3 paper: Tables 2 and 3, per-token KV bytes and FLOPs at 8K and 32K", "[capacity]") {
  for (const auto& row : paper_rows()) {
    for (int c = 0; c < 2; ++c) {
      INFO(row.preset << " at T = " << kContexts[c]);
      const ModelFigures f = paper_figures(row.preset, kContexts[c]);
      CHECK(f.decode_kv_bytes_read == sig3(row.kv[c]));
      CHECK(static_cast<double>(f.attn_flops) == sig3(row.attn[c]));
      CHECK(static_cast<double>(f.linear_flops) == sig3(row.linear));
      CHECK(static_cast<double>(f.ffn_flops) == sig3(row.ffn));
    }
  }
}

TEST_CASE("step3 paper: lightning layers cost 10 h d_k d_v there, 4 h d_k d_v exactly", "[capacity]") {
  // MiniMax-M1: 70 lightning layers (64 heads, d_k = d_v = 128) and 10 softmax GQA layers
  // (64 heads of 128). Exact: q reads the state and k^T v updates it, 2 x 2 x h x d_k x d_v; the
  // paper's printed 3.42e9 and 1.15e10 need 10 x h x d_k x d_v (Tables 2-3, checked above).
  const int64_t state = 64LL * 128 * 128;
  for (int c = 0; c < 2; ++c) {
    INFO("T = " << kContexts[c]);
    ModelDesign m = read_preset("minimax-m1");
    apply_step3_paper_precision(m);
    const ModelFigures paper = compute_figures(m, {kContexts[c], 1, Convention::kStep3Paper});
    const ModelFigures exact = compute_figures(m, {kContexts[c], 1, Convention::kExact});
    const int64_t softmax = 10LL * 4 * 64 * 128 * kContexts[c];
    CHECK(paper.attn_flops == softmax + 70 * 10 * state);
    CHECK(exact.attn_flops == softmax + 70 * 4 * state);
  }
}

TEST_CASE("step3 paper: Table 7, the MoE sparsity each card needs (Step-3: d 7168, 61 layers)",
          "[capacity]") {
  // §5.4: H800 and H20 with 8 x 400 Gb/s NICs, A800 and 910B with 8 x 200 Gb/s.
  const char* cards[] = {"h800", "h20", "a800", "ascend-910b"};
  const double printed[] = {0.058, 0.007, 0.031, 0.034};
  for (int i = 0; i < 4; ++i) {
    INFO(cards[i]);
    CHECK(moe_sparsity_floor(read_hardware(cards[i]), 7168, 61) == dec3(printed[i]));
  }
}

TEST_CASE("step3 paper: Table 6, attention and FFN cost per 1M tokens on four cards",
          "[capacity]") {
  const auto cards = paper_cards();
  for (const auto& row : paper_rows()) {
    for (int c = 0; c < 2; ++c) {
      const CostFigures cost = compute_cost(paper_figures(row.preset, kContexts[c]), cards);
      REQUIRE(cost.cards.size() == 4);
      for (int k = 0; k < 4; ++k) {
        INFO(row.preset << " at T = " << kContexts[c] << " on " << cards[k].name);
        CHECK(cost.cards[k].attn_usd_per_mtok == dec3(row.attn_usd[c][k]));
        // FFN cost does not depend on the context; the paper prints it once.
        CHECK(cost.cards[k].ffn_usd_per_mtok == dec3(row.ffn_usd[k]));
      }
    }
  }
}

TEST_CASE("step3 paper: Observation 1, the best deployment of DSv3, Qwen3 MoE and Step-3",
          "[capacity]") {
  const auto cards = paper_cards();
  auto cost = [&](const char* preset, int64_t t) {
    return compute_cost(paper_figures(preset, t), cards);
  };
  // Step-3 and Qwen3 MoE with AFD: attention on H20, FFN on H800.
  for (const char* preset : {"step3", "qwen3-235b-a22b"}) {
    INFO(preset);
    const CostFigures c8 = cost(preset, 8192);
    CHECK(c8.afd_attn_card == "h20");
    CHECK(c8.afd_ffn_card == "h800");
  }
  CHECK(cost("step3", 8192).afd_usd_per_mtok == dec3(0.055));
  CHECK(cost("step3", 32768).afd_usd_per_mtok == dec3(0.129));
  CHECK(cost("qwen3-235b-a22b", 8192).afd_usd_per_mtok == dec3(0.062));
  CHECK(cost("qwen3-235b-a22b", 32768).afd_usd_per_mtok == dec3(0.193));
  // DSv3 with EP on H800 alone: both parts on the H800 (cards[0]).
  CHECK(cost("deepseek-v3", 8192).cards[0].total_usd_per_mtok == dec3(0.068));
  CHECK(cost("deepseek-v3", 32768).cards[0].total_usd_per_mtok == dec3(0.211));
}

TEST_CASE("step3 paper: Table 4 rooflines and §5.1 arithmetic intensities", "[capacity]") {
  // Compute-bandwidth ratio, printed as integers: FP8 peak where the card has it.
  const auto cards = paper_cards();
  const double roofline[4] = {591, 74, 156, 175};
  for (int k = 0; k < 4; ++k) {
    INFO(cards[k].name);
    CHECK(cards[k].ridge() == Approx(roofline[k]).margin(0.5));
  }
  // 8-bit KV: MFA 128, MLA 512 (PV over C + h_rope, the step3-paper convention), GQA-4 32.
  CHECK(paper_figures("step3", 8192).arithmetic_intensity == Approx(128.0));
  CHECK(paper_figures("deepseek-v3", 8192).arithmetic_intensity == Approx(512.0));
  CHECK(paper_figures("qwen3-235b-a22b", 8192).arithmetic_intensity == Approx(32.0));
}
