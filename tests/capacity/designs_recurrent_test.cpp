// Recurrent --design specs (gdn:, kda:, mamba2:; docs/designs.md, "Recurrent designs"): known
// states per sequence worked by hand, the same layer as the published configs' readers build,
// and the canonical spec string round trip.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/hf_config.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/attention/resolve.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/core/error.hpp"

using namespace gmha;

namespace {
ModelFigures at(const ModelDesign& m, int64_t context = 8192) {
  return compute_figures(m, {context, 1, Convention::kExact});
}
// The first layer group of a model whose layers use `kind`.
const GroupFigures& group_of(const ModelFigures& f, RecurrentKind kind) {
  for (const auto& g : f.groups) {
    if (mixer_kind(g.spec) == MixerKind::kRecurrent && g.spec.attention.recurrent == kind) return g;
  }
  FAIL("no group of that kind");
  return f.groups.front();
}
}  // namespace

TEST_CASE("recurrent designs: Qwen3-Next's Gated DeltaNet state per sequence", "[capacity][designs]") {
  // Qwen3-Next-80B-A3B (its config: linear_num_value_heads 32, linear_num_key_heads 16,
  // linear_key_head_dim = linear_value_head_dim = 128, linear_conv_kernel_dim 4, hidden 2048; no
  // mamba_ssm_dtype, so vLLM keeps the state in the bf16 model dtype).
  const ModelDesign d = parse_design_spec("gdn:d=2048,heads=32,kh=16,hd=128,dv=128,conv=4,state_dtype=bf16");
  const auto f = at(d);
  // State 32 value heads x 128 x 128 = 524288 elements x 2 B = 1048576 B; conv (4-1) x
  // (2*16*128 + 32*128) = 24576 elements x 2 B = 49152 B.
  CHECK(f.state_bytes_per_sequence == 1048576.0 + 49152.0);
  CHECK(f.kv_bytes_per_token == 0);
  CHECK(f.groups.at(0).recurrent.key_rank_bound == 16 * 128);
  // The same layer as the preset read from Qwen3-Next's published config (FFN aside).
  const auto preset = at(read_preset("qwen3-next-80b-a3b"));
  const GroupFigures& g = group_of(preset, RecurrentKind::kGatedDeltaNet);
  CHECK(g.state_bytes_per_layer == f.state_bytes_per_sequence);
  CHECK(g.attn_params_per_layer == f.attn_params);
  CHECK(g.attn_flops / g.layer_count == f.attn_flops);
  // The design default keeps states in fp32: twice the state, the same conv state.
  CHECK(at(parse_design_spec("gdn:d=2048,heads=32,kh=16,hd=128")).state_bytes_per_sequence == 2097152.0 + 49152.0);
}

TEST_CASE("recurrent designs: Kimi Linear's KDA state, fp32 by default", "[capacity][designs]") {
  // Kimi-Linear-48B-A3B's linear_attn_config: num_heads 32, head_dim 128, short_conv_kernel_size
  // 4, hidden 2304. State 32 x 128 x 128 fp32 = 2097152 B; q/k/v conv states (4-1) x 3*4096 bf16
  // = 73728 B.
  const ModelDesign d = parse_design_spec("kda:d=2304,heads=32,hd=128,conv=4,layers=20");
  const auto f = at(d);
  CHECK(f.state_bytes_per_sequence == 20.0 * (2097152 + 73728));  // 43417600
  const ModelFigures kimi = at(read_preset("kimi-linear-48b-a3b"));  // outlives g
  const GroupFigures& g = group_of(kimi, RecurrentKind::kKda);
  CHECK(g.state_bytes_per_layer == 2097152.0 + 73728.0);
  CHECK(g.attn_params_per_layer == f.groups.at(0).attn_params_per_layer);  // 39514272
}

TEST_CASE("recurrent designs: a Mamba2 layer by hand, and Nemotron Nano 2's", "[capacity][designs]") {
  // H = 128 heads of P = 80, N = 128, G = 8 groups, conv 4, d = 4480 (Nemotron Nano 9B v2).
  const ModelDesign d =
      parse_design_spec("mamba2:d=4480,heads=128,hd=80,state=128,groups=8,conv=4,state_dtype=bf16");
  const auto f = at(d);
  // State H*P*N = 1310720 elements, bf16: 2621440 B. Conv (K-1)(I + 2GN) = 3*(10240 + 2048) =
  // 36864 elements, bf16: 73728 B.
  CHECK(f.state_bytes_per_sequence == 2621440.0 + 73728.0);
  // in_proj (2*10240 + 2*8*128 + 128)*4480 + conv 12288*4 + bias 12288 + dt_bias, A_log, D 3*128
  // + norm 10240 + out_proj 4480*10240 = 147446144.
  CHECK(f.attn_params == 147446144);
  // FLOPs per token: 5 per state element + 2 * 12288 channels * 4 taps.
  CHECK(f.attn_flops == 5LL * 1310720 + 2 * 12288 * 4);
  CHECK(f.groups.at(0).recurrent.key_rank_bound == 8 * 128);
  // The nemotron_h reader builds the same layer from the published geometry.
  const char* nano = R"({"model_type": "nemotron_h", "hidden_size": 4480, "intermediate_size": 15680,
    "num_hidden_layers": 2, "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128,
    "vocab_size": 131072, "hybrid_override_pattern": "M-", "mamba_num_heads": 128,
    "mamba_head_dim": 80, "n_groups": 8, "ssm_state_size": 128, "conv_kernel": 4})";
  const ModelDesign cfg = model_from_hf_config(nlohmann::json::parse(nano), "config.json");
  CHECK(cfg.layers[0] == d.layers[0]);
}

TEST_CASE("recurrent designs: canonical strings round-trip, bad keys fail", "[capacity][designs]") {
  for (const char* spec : {"gdn:d=2048,heads=32,kh=16,hd=128", "kda:d=2304,heads=32,hd=128,layers=3,ffn=9216",
                           "mamba2:d=1024,heads=32,hd=32,state=64,groups=2,conv=3,experts=8/2,expert_ffn=512,vocab=1000"}) {
    INFO(spec);
    const ModelDesign m = parse_design_spec(spec);
    REQUIRE_FALSE(m.spec.empty());
    const ModelDesign back = parse_design_spec(m.spec);
    CHECK(back.layers == m.layers);
    CHECK(back.vocab_size == m.vocab_size);
    CHECK(back.spec == m.spec);
    CHECK(resolve_model(m.spec).layers == m.layers);  // resolve_model knows the names too
  }
  CHECK(parse_design_spec("gdn:d=2048,heads=32,kh=16,hd=128").spec ==
        "gdn:d=2048,heads=32,kh=16,hd=128,dv=128,conv=4,layers=1,state_dtype=fp32,conv_dtype=bf16");
  CHECK_THROWS_WITH(parse_design_spec("gdn:d=2048,heads=32,hd=128,state=64"), Catch::Contains("unknown key 'state'"));
  CHECK_THROWS_WITH(parse_design_spec("kda:d=2048,heads=32,hd=128,window=4096"), Catch::Contains("unknown key 'window'"));
  CHECK_THROWS_WITH(parse_design_spec("mamba2:d=2048,heads=32,hd=64"), Catch::Contains("missing key 'state'"));
  // 32 heads in 3 groups do not divide.
  CHECK_THROWS_AS(parse_design_spec("mamba2:d=2048,heads=32,hd=64,state=64,groups=3"), InputError);
  CHECK_THROWS_WITH(parse_design_spec("gdn:d=2048,heads=32,hd=128,state_dtype=f7"), Catch::Contains("state_dtype"));
}
