// The layer-level model on small hand-built layers: tied K=V (stored as vLLM allocates, and the
// minimum), a V head wider or narrower than K, a shared cache, layers without a mixer, and the
// recurrent mixers' states. Every expected number is worked in the comment beside it.
#include <catch2/catch.hpp>

#include "gmha/attention/model.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/figures_json.hpp"
#include "gmha/core/error.hpp"

using namespace gmha;

namespace {

LayerSpec gqa(int64_t d, int64_t heads, int64_t kv, int64_t hd) {
  LayerSpec l;
  l.attention.variant = Variant::kGqa;
  l.attention.d_model = d;
  l.attention.heads = heads;
  l.attention.kv_heads = kv;
  l.attention.head_dim = hd;
  return l;
}
ModelDesign model(std::vector<LayerSpec> layers) {
  ModelDesign m;
  m.name = "test";
  m.d_model = layers.front().attention.d_model;
  m.layers = std::move(layers);
  return m;
}
ModelFigures at(const ModelDesign& m, int64_t t) { return compute_figures(m, {t, 1, Convention::kExact}); }

}  // namespace

TEST_CASE("layers: tied K=V is allocated twice by default and stored once at the minimum", "[capacity]") {
  LayerSpec l = gqa(512, 8, 2, 64);
  l.attention.kv_tied = true;
  const auto f = at(model({l}), 100);
  // K of 2 x 64 = 128 elements; vLLM also allocates V: 256 elements = 512 B bf16 per token.
  CHECK(f.kv_bytes_per_token == 512);
  CHECK(f.kv_bytes_per_token_minimal == 256);
  // No v_proj: q 512*512 + k 128*512 + o 512*512.
  CHECK(f.attn_params == 512 * 512 * 2 + 128 * 512);
}

TEST_CASE("layers: a V head narrower than K shrinks V, o_proj and the PV product", "[capacity]") {
  LayerSpec l = gqa(1024, 16, 4, 192);
  l.attention.v_head_dim = 128;
  const auto f = at(model({l}), 1000);
  // Cache per token: K 4*192 + V 4*128 = 1280 elements = 2560 B.
  CHECK(f.kv_bytes_per_token == 2560);
  // q 3072*1024 + k 768*1024 + v 512*1024 + o 1024*2048.
  CHECK(f.attn_params == 1024LL * (3072 + 768 + 512 + 2048));
  // 2 * 16 heads * 1000 tokens * (192 + 128).
  CHECK(f.attn_flops == 2LL * 16 * 1000 * 320);
  CHECK(f.ranks.vo_rank == 128);
}

TEST_CASE("layers: a layer reading another's cache stores nothing and reads it again", "[capacity]") {
  LayerSpec own = gqa(256, 4, 1, 64);
  LayerSpec shared = own;
  shared.kv_source = 0;
  const auto f = at(model({own, shared}), 10);
  // One cache of K, V 64 each bf16 = 256 B per token, counted once.
  CHECK(f.kv_bytes_per_token == 256);
  CHECK(f.kv_bytes == 10.0 * 256);
  CHECK(f.cache_owning_layers == 1);
  // Both layers attend over it: 2 * 10 tokens * 256 B.
  CHECK(f.decode_kv_bytes_read == 2.0 * 10 * 256);
  LayerSpec bad = own;
  bad.kv_source = 1;  // itself or a later layer: impossible
  CHECK_THROWS_AS(at(model({own, bad}), 10), InputError);
}

TEST_CASE("layers: a block without a mixer has only its FFN", "[capacity]") {
  LayerSpec attn = gqa(128, 2, 2, 64);
  LayerSpec mlp = attn;
  mlp.has_mixer = false;
  mlp.ffn.kind = FfnKind::kDense;
  mlp.ffn.intermediate = 512;
  const auto f = at(model({attn, mlp}), 4);
  // Attention of one layer: 4 * 128*128; FFN 3 * 128 * 512.
  CHECK(f.attn_params == 4 * 128 * 128);
  CHECK(f.ffn_params == 3 * 128 * 512);
  CHECK(f.kv_bytes_per_token == 2 * 128 * 2);
  CHECK(f.kinds.size() == 2);
}

TEST_CASE("layers: Mamba2, KDA and short-conv states per sequence", "[capacity]") {
  LayerSpec mamba;
  AttentionShape& a = mamba.attention;
  a.variant = Variant::kLinear;
  a.recurrent = RecurrentKind::kMamba2;
  a.d_model = 1024;
  a.heads = 32;           // mamba_num_heads
  a.head_dim = 64;        // mamba_head_dim
  a.state_value_dim = 128;  // ssm_state_size N
  a.key_heads = 8;        // n_groups G
  a.conv_kernel = 4;
  a.inner = 2048;         // heads * head_dim
  mamba.kv_dtype = DType::kF32;
  const auto f = at(model({mamba}), 1 << 20);
  // State 32*64*128 fp32 = 1048576 B; conv (4-1)*(2048 + 2*8*128) bf16 = 3*4096*2 = 24576 B.
  CHECK(f.state_bytes_per_sequence == 1048576.0 + 24576.0);
  CHECK(f.kv_bytes_per_token == 0);
  CHECK(f.kv_bytes == 1048576.0 + 24576.0);  // context-free
  CHECK_FALSE(f.groups.at(0).softmax_ranks.has_value());
  CHECK(f.groups.at(0).recurrent.key_rank_bound == 8 * 128);
  // in_proj (2*2048 + 2*8*128 + 32)*1024 + conv 4096*4 + bias 4096 + 3*32 + norm 2048
  // + out_proj 1024*2048.
  CHECK(f.attn_params == (2LL * 2048 + 2048 + 32) * 1024 + 4096 * 4 + 4096 + 96 + 2048 + 1024 * 2048);
  // 5 per state element + conv 2 * 4096 * 4.
  CHECK(f.attn_flops == 5LL * 32 * 64 * 128 + 2 * 4096 * 4);

  LayerSpec kda = mamba;
  kda.attention.recurrent = RecurrentKind::kKda;
  kda.attention.heads = 8;
  kda.attention.head_dim = 128;
  kda.attention.state_value_dim = 128;
  kda.attention.key_heads = 0;
  kda.attention.inner = 0;
  // State 8*128*128 fp32 = 524288 B; conv (4-1)*(2*1024 + 1024) bf16 = 18432 B.
  CHECK(at(model({kda}), 8).state_bytes_per_sequence == 524288.0 + 18432.0);

  LayerSpec conv = mamba;
  conv.attention.recurrent = RecurrentKind::kShortConv;
  conv.attention.inner = 1024;
  conv.attention.conv_kernel = 3;
  // No state matrix; conv (3-1)*1024 bf16 = 4096 B.
  const auto c = at(model({conv}), 8);
  CHECK(c.state_bytes_per_sequence == 4096.0);
  CHECK(c.groups.at(0).recurrent.state_capacity == 0);
}

TEST_CASE("layers: JSON has layer_kinds, null ranks for recurrent layers, and the new totals", "[capacity]") {
  LayerSpec attn = gqa(256, 4, 2, 64);
  LayerSpec gdn;
  AttentionShape& a = gdn.attention;
  a.variant = Variant::kLinear;
  a.recurrent = RecurrentKind::kGatedDeltaNet;
  a.d_model = 256;
  a.heads = 4;
  a.kv_heads = 4;
  a.key_heads = 2;
  a.head_dim = 32;
  a.state_value_dim = 32;
  a.conv_kernel = 4;
  attn.ffn = {FfnKind::kDense, 512};  // a known FFN, so the parameter keys are numbers
  gdn.ffn = attn.ffn;
  ModelDesign m = model({gdn, gdn, gdn, attn});
  m.vocab_size = 100;
  m.max_context = 64;
  const auto j = figures_to_json(at(m, 128), nullptr, Convention::kExact);
  REQUIRE(j.at("layer_kinds").size() == 2);
  const auto& rec = j.at("layer_kinds").at(0);
  CHECK(rec.at("mixer") == "GatedDeltaNet");
  CHECK(rec.at("layers") == "0-2");
  CHECK(rec.at("frh").is_null());  // n/a, never 0
  CHECK(rec.at("state_capacity") == 4 * 32 * 32);
  // State 4*32*32 + conv (4-1)*(2*2*32 + 4*32), both bf16: (4096 + 768) * 2 B.
  CHECK(rec.at("state_bytes_per_layer") == 9728);
  const auto& soft = j.at("layer_kinds").at(1);
  CHECK(soft.at("frh") == 64);
  CHECK(soft.at("geometry").at("kv_heads") == 2);
  CHECK(soft.at("kv_bytes_per_token_per_layer") == 2 * 2 * 64 * 2);
  CHECK(j.at("groups").at(0).at("frh").is_null());
  CHECK(j.at("state_bytes_per_sequence") == 3 * 9728);
  CHECK(j.at("cache_owning_layers") == 1);
  CHECK(j.at("max_context") == 64);
  CHECK(j.at("beyond_max_context") == true);
  // Embeddings 2 * 100 * 256 untied; the input one is 100 * 256.
  CHECK(j.at("active_params").get<int64_t>() - j.at("active_params_excl_input_embedding").get<int64_t>() == 25600);
  CHECK(j.at("active_params").get<int64_t>() - j.at("active_params_excl_embeddings").get<int64_t>() == 51200);
}
