// KV cache layouts (docs/capacity.md, "KV cache layouts"): vLLM's fp8_ds_mla row of a 512 + 64
// MLA latent (vllm-project/vllm, vllm/v1/attention/backends/mla/flashmla_sparse.py: 512 fp8
// values, 4 fp32 scales, 64 bf16 RoPE values = 656 B) carried through stored bytes, bytes read,
// intensity, per-device bytes and the spec string; the frontier's DSA known answer; refusals.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/figures_json.hpp"
#include "gmha/capacity/fit.hpp"
#include "gmha/core/error.hpp"

using namespace gmha;

namespace {
ModelDesign v32_ds_mla() {
  ModelDesign m = read_preset("deepseek-v3.2");
  m.set_kv_cache_type(read_kv_cache_type("fp8_ds_mla", "--kv-dtype"), "--kv-dtype");
  return m;
}
ModelFigures at(const ModelDesign& m, int64_t t) { return compute_figures(m, {t, 1, Convention::kExact}); }
}  // namespace

TEST_CASE("fp8_ds_mla: the row is 512 fp8 + 4 fp32 scales + 64 bf16 = 656 B", "[capacity][kv_layout]") {
  const KvCacheType t = read_kv_cache_type("fp8_ds_mla", "t");
  CHECK(t.dtype == DType::kF8E4M3);
  CHECK(t.layout == KvLayout::kFp8DsMla);
  CHECK(kv_cache_type_name(t.dtype, t.layout) == "fp8_ds_mla");
  const ModelDesign m = v32_ds_mla();
  CHECK(kv_row_bits(m.layers[0], 576) == (512 * 1 + 4 * 4 + 64 * 2) * 8);
  // The plain fp8 row of the same layer is 576 B: 80 B less than vLLM's layout.
  ModelDesign plain = read_preset("deepseek-v3.2");
  plain.set_kv_dtype(DType::kF8E4M3);
  CHECK(kv_row_bits(plain.layers[0], 576) == 576 * 8);
}

TEST_CASE("known answer: DeepSeek-V3.2 in fp8_ds_mla reads 132 T + 656 min(T, 2048) B per layer at 128K",
          "[capacity][kv_layout][sparse]") {
  // frontier §2: per layer and decoded token at T = 131072, 132 * 131072 + 656 * 2048 =
  // 17,301,504 + 1,343,488 = 18,644,992 B; 61 layers: 1,137,344,512 B.
  const int64_t t = 131072;
  const ModelFigures f = at(v32_ds_mla(), t);
  REQUIRE(f.layers == 61);
  CHECK(f.kv_dtype == "fp8_ds_mla");
  CHECK(f.decode_kv_bytes_read == 61.0 * (132.0 * t + 656.0 * 2048));
  CHECK(f.decode_kv_bytes_read == 1137344512.0);
  // Stored by hand: every token keeps a 656 B row and a 132 B index key, 788 B per layer.
  // 32K: 32768 * 788 = 25,821,184 B per layer, x 61 = 1,575,092,224 B;
  // 128K: 131072 * 788 = 103,284,736 B per layer, x 61 = 6,300,368,896 B.
  CHECK(f.kv_bytes == 6300368896.0);
  CHECK(at(v32_ds_mla(), 32768).kv_bytes == 1575092224.0);
  CHECK(f.kv_bytes_per_token == 61.0 * 788);
  CHECK(f.indexer_bytes_per_token == 61 * 132);
  // FLOPs are the layout's business not at all: MLA absorbed over 2048 tokens,
  // 2 * 128 * 2048 * (576 + 512) = 570,425,344, plus the indexer 2 * 64 * 128 * T = 2,147,483,648.
  CHECK(f.attn_flops == 61 * (570425344LL + 2147483648LL));
  CHECK(f.arithmetic_intensity == Approx(2717908992.0 / 18644992.0).epsilon(1e-14));
  // Every output names the layout: JSON, groups and kinds, and the canonical spec string.
  const nlohmann::json j = figures_to_json(f, nullptr, Convention::kExact);
  CHECK(j["kv_dtype"] == "fp8_ds_mla");
  CHECK(j["groups"][0]["kv_dtype"] == "fp8_ds_mla");
  CHECK(j["layer_kinds"][0]["kv_dtype"] == "fp8_ds_mla");
}

TEST_CASE("fp8_ds_mla: the spec string round-trips and the per-device row is the whole 656 B",
          "[capacity][kv_layout]") {
  const std::string spec = "mla:d=7168,heads=128,c=512,nope=128,rope=64,v=128,qlora=1536,layers=2,kv_dtype=fp8_ds_mla";
  const ModelDesign m = parse_design_spec(spec);
  CHECK(m.layers[0].kv_layout == KvLayout::kFp8DsMla);
  CHECK(design_spec_of(m).find("kv_dtype=fp8_ds_mla") != std::string::npos);
  CHECK(parse_design_spec(design_spec_of(m)).layers == m.layers);
  // Dense MLA at T = 1000: 2 layers * 1000 * 656 B stored and read.
  const ModelFigures f = at(m, 1000);
  CHECK(f.kv_bytes == 2.0 * 1000 * 656);
  CHECK(f.decode_kv_bytes_read == 2.0 * 1000 * 656);
  // TP 8 replicates MLA's row: 656 B per token, layer and device.
  FitOptions o;
  o.card = read_hardware("h200");
  o.gpus = 8;
  const FitResult fit = compute_fit(m, o);
  CHECK(fit.groups[0].kv_bytes_per_token_per_gpu == 656.0);
  // MTLA's entry is an MLA row merged over s tokens: 656 B per entry, 328 B per token at s = 2.
  const ModelFigures mt = at(parse_design_spec(
      "mtla:d=7168,heads=128,c=512,nope=128,rope=64,v=128,stride=2,layers=1,kv_dtype=fp8_ds_mla"), 1001);
  CHECK(mt.kv_bytes == 501.0 * 656);
  CHECK(mt.kv_bytes_per_token == 328.0);
}

TEST_CASE("fp8_ds_mla is refused where the row is not a 512 + 64 MLA latent", "[capacity][kv_layout]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(parse_design_spec("gqa:d=4096,heads=32,kv=8,hd=128,kv_dtype=fp8_ds_mla"),
                    Contains("kv_dtype: fp8_ds_mla") && Contains("got a gqa layer"));
  CHECK_THROWS_WITH(parse_design_spec("mla:d=2048,heads=16,c=256,nope=64,rope=32,v=64,kv_dtype=fp8_ds_mla"),
                    Contains("got a latent of 256 + RoPE 32"));
  // GLA at h_c d_c = 512: its latent heads shard under TP, no row vLLM's layout is defined for.
  CHECK_THROWS_WITH(parse_design_spec("gla:d=4096,heads=32,hc=2,c=256,nope=128,rope=64,v=128,kv_dtype=fp8_ds_mla"),
                    Contains("got a gla layer"));
  ModelDesign llama = read_preset("llama3-8b");
  CHECK_THROWS_AS(llama.set_kv_cache_type(read_kv_cache_type("fp8_ds_mla", "--kv-dtype"), "--kv-dtype"),
                  InputError);
  // Not an element dtype: a recurrent state or a plain dtype reader refuses it by name.
  CHECK_THROWS_WITH(read_kv_dtype("fp8_ds_mla", "state_dtype"), Contains("cache layout"));
}
