// The modifiers of docs/designs.md ("Modifiers"): stored bytes, bytes read and FLOPs per decoded
// token worked by hand for each, and the known answers from the papers (NSA Table 4, DSA's
// stored vs read bytes at 128K, frontier §2).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/attention/weights.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/figures_json.hpp"
#include "gmha/capacity/sweep.hpp"

using namespace gmha;

namespace {
ModelFigures at(const ModelDesign& m, int64_t context) {
  return compute_figures(m, {context, 1, Convention::kExact});
}
ModelFigures design_at(const char* spec, int64_t context) { return at(parse_design_spec(spec), context); }
// GQA 32 query heads, 8 KV heads of 128 in bf16: one token's K and V are 2 * 8 * 128 = 2048
// elements = 4096 B per layer; its parameters 2 * 4096^2 + 2 * 1024 * 4096 = 41,943,040.
constexpr const char* kGqa = "gqa:d=4096,heads=32,kv=8,hd=128,layers=1";
std::string with(const char* extra) { return std::string(kGqa) + "," + extra; }
}  // namespace

TEST_CASE("modifiers: DSA top-k stores every token and its index key, reads k", "[capacity][sparse]") {
  // topk=2048 with a 64 x 128 indexer at T = 8192: stored 8192 * (4096 + 132) = 34,635,776 B; read
  // 2048 * 4096 + 8192 * 132 = 9,469,952 B; FLOPs 2 * 32 * 2048 * (128 + 128) = 33,554,432 plus the
  // indexer's 2 * 64 * 128 * 8192 = 134,217,728. Parameters: GQA's 41,943,040 + indexer wq_b
  // 8192 * 4096 + wk 128 * 4096 + k_norm 2 * 128 + weights_proj 64 * 4096 = 76,284,160.
  const ModelFigures f = at(parse_design_spec(with("topk=2048,index_heads=64,index_dim=128")), 8192);
  CHECK(f.kv_bytes == 34635776);
  CHECK(f.decode_kv_bytes_read == 9469952);
  CHECK(f.attn_flops == 33554432 + 134217728);
  CHECK(f.kv_bytes_per_token == 4228);
  CHECK(f.indexer_bytes_per_token == 132);
  CHECK(f.attn_params == 76284160);
  // k >= T: the top-k layer reads everything a dense one does, plus the index keys.
  const ModelFigures dense = design_at(kGqa, 1024);
  const ModelFigures all = at(parse_design_spec(with("topk=2048,index_heads=64,index_dim=128")), 1024);
  CHECK(all.decode_kv_bytes_read == dense.decode_kv_bytes_read + 1024 * 132);
}

TEST_CASE("known answer: DSA at 128K stores 132 T + e T and reads 132 T + e min(T, 2048) per layer",
          "[capacity][sparse]") {
  // frontier §2 (DeepSeek-V3.2-Exp report; vLLM DeepseekV32IndexerCache): at T = 131072 a layer
  // reads 132 * T + 656 * 2048 B, 656 B being vLLM's fp8_ds_mla entry. gmha keeps the 576-element
  // MLA entry in one dtype, e = 576 B in fp8: read 17,301,504 + 1,179,648 = 18,481,152 B per
  // layer, stored 131072 * (576 + 132) = 92,798,976 B; dense MLA would read 576 * T = 75,497,472:
  // 4.09x more, storing 132 / 576 = 22.9 % less (the frontier's 4.6x and 20 % are for e = 656).
  ModelDesign v32 = read_preset("deepseek-v3.2");
  v32.set_kv_dtype(DType::kF8E4M3);
  const int64_t t = 131072;
  const ModelFigures f = at(v32, t);
  REQUIRE(f.layers == 61);
  CHECK(f.decode_kv_bytes_read == 61.0 * (132.0 * t + 576.0 * 2048));
  CHECK(f.kv_bytes == 61.0 * (132.0 + 576.0) * t);
  CHECK(f.decode_kv_bytes_read == 61.0 * 18481152);
  // In the config's bf16 the entry is 1152 B: read 132 T + 1152 * 2048 = 19,660,800 B per layer.
  const ModelFigures bf16 = at(read_preset("deepseek-v3.2"), t);
  CHECK(bf16.decode_kv_bytes_read == 61.0 * 19660800);
}

TEST_CASE("known answer: NSA reads T/d + n l' + w tokens at 8K-64K (NSA paper, Table 4)", "[capacity][sparse]") {
  // Yuan et al. 2025 (arXiv 2502.11089) Table 4, l = 32, d = 16, n = 16, l' = 64, w = 512: the
  // paper counts 2048, 2560, 3584, 5632 tokens at 8K, 16K, 32K, 64K (T/16 + 1024 + 512). gmha
  // counts complete compression blocks, floor((T - 32) / 16) + 1 = T/16 - 1: one fewer each.
  const std::string spec = "gqa:d=2048,heads=64,kv=4,hd=64,layers=1,nsa=32/16/16/64/512";
  const std::pair<int64_t, int64_t> table[] = {{8192, 2048}, {16384, 2560}, {32768, 3584}, {65536, 5632}};
  for (const auto& [t, paper] : table) {
    INFO("T = " << t);
    const ModelFigures f = design_at(spec.c_str(), t);
    CHECK(f.groups[0].effective_tokens == paper - 1);
    CHECK(t / 16 + 16 * 64 + 512 == paper);
  }
  // Stored at 8K: the selection branch's 8192 tokens, the window's 512 and 511 compressed blocks,
  // each 2 * 4 * 64 = 512 elements = 1024 B: 9215 * 1024 = 9,436,160 B. Per token (2 + 1/16) * 1024.
  const ModelFigures f = design_at(spec.c_str(), 8192);
  CHECK(f.groups[0].stored_tokens == 9215);
  CHECK(f.kv_bytes == 9215 * 1024);
  CHECK(f.kv_bytes_per_token == 1024 * 2 + 1024 / 16);
  // Weights: two more K/V pairs (4 * 256 * 2048), phi_k, phi_v (2 * 64 * 2048), phi_pos 32 * 64
  // and the gate 192 * 2048 beside GQA's 2 * 2048 * 4096 + 2 * 256 * 2048.
  CHECK(f.attn_params == 2 * 2048 * 4096 + 2 * 256 * 2048 + 4 * 256 * 2048 + 2 * 64 * 2048 + 32 * 64 + 192 * 2048);
  // Before the first complete block (T < l) NSA reads its selection and window branches only.
  const ModelFigures early = design_at(spec.c_str(), 16);
  CHECK(early.groups[0].effective_tokens == 16 + 16);
}

TEST_CASE("modifiers: MoBA keeps the cache and its block means, reads k blocks", "[capacity][sparse]") {
  // moba=4096/3 at T = 32768: 8 complete blocks, their mean keys 8 * 1024 elements = 16,384 B;
  // stored 32768 * 4096 + 16,384; read min(T, 3 * 4096) = 12288 tokens * 4096 + 16,384; FLOPs
  // 2 * 32 * (12288 * (128 + 128) + 8 * 128) = 201,392,128.
  const ModelFigures f = design_at(with("moba=4096/3").c_str(), 32768);
  CHECK(f.kv_bytes == 32768.0 * 4096 + 16384);
  CHECK(f.decode_kv_bytes_read == 12288.0 * 4096 + 16384);
  CHECK(f.attn_flops == 201392128);
  CHECK(f.kv_bytes_per_token == 4096 + 2048.0 / 4096);
  CHECK(f.attn_params == 41943040);  // MoBA adds no weights
}

TEST_CASE("modifiers: CSA and HCA keep a window and 1/s compressed entries", "[capacity][sparse]") {
  // An MQA of 64 heads x 512 in bf16: an entry (K and V) is 1024 elements = 2048 B.
  // HCA compress=128,window=128 at T = 32768: 128 + 256 entries stored and read = 786,432 B;
  // FLOPs 2 * 64 * 384 * 1024; per token 2048 * (1 + 1/128) = 2064 B.
  const ModelFigures hca = design_at("mqa:d=4096,heads=64,hd=512,layers=1,compress=128,window=128", 32768);
  CHECK(hca.kv_bytes == 384 * 2048);
  CHECK(hca.decode_kv_bytes_read == 384 * 2048);
  CHECK(hca.attn_flops == 2 * 64 * 384 * 1024);
  CHECK(hca.kv_bytes_per_token == 2064);
  // Compressor weights wkv, wgate [512 * 2, 4096] (one pass: no overlap), ape [128, 1024], norm 1024.
  const ModelFigures plain = design_at("mqa:d=4096,heads=64,hd=512,layers=1", 32768);
  CHECK(hca.attn_params == plain.attn_params + 2 * 1024 * 4096 + 128 * 1024 + 1024);
  // CSA compress=4,window=128,topk=512 with a 64 x 128 indexer: stored 8320 entries * 2048 +
  // 8192 index keys * 132 = 18,120,704 B; read (128 + 512) * 2048 + 8192 * 132 = 2,392,064 B;
  // FLOPs 2 * 64 * 640 * 1024 + 2 * 64 * 128 * 8192 = 218,103,808; per token 2048 * 1.25 + 132/4.
  const ModelFigures csa = design_at(
      "mqa:d=4096,heads=64,hd=512,layers=1,compress=4,window=128,topk=512,index_heads=64,index_dim=128", 32768);
  CHECK(csa.kv_bytes == 18120704);
  CHECK(csa.decode_kv_bytes_read == 2392064);
  CHECK(csa.attn_flops == 218103808);
  CHECK(csa.kv_bytes_per_token == 2593);
  CHECK(csa.groups[0].label.find("compressed 1/4 + window 128, top-512") != std::string::npos);
}

TEST_CASE("modifiers: share=s stores one cache per s layers, reads one per layer", "[capacity][sparse]") {
  // 6 layers, share=3: layers 0 and 3 own caches (2 x 8192 x 4096 B at T = 8192); all 6 read one.
  const ModelFigures f = design_at("gqa:d=4096,heads=32,kv=8,hd=128,layers=6,share=3", 8192);
  CHECK(f.cache_owning_layers == 2);
  CHECK(f.kv_bytes == 2.0 * 8192 * 4096);
  CHECK(f.decode_kv_bytes_read == 6.0 * 8192 * 4096);
  CHECK(f.kv_bytes_per_token == 2 * 4096);
  // CLA: the 4 reading layers have no k_proj / v_proj (1024 x 4096 each), nor their FLOPs.
  const ModelFigures own = design_at("gqa:d=4096,heads=32,kv=8,hd=128,layers=6", 8192);
  CHECK(f.attn_params == own.attn_params - 4 * 2 * 1024 * 4096);
  CHECK(f.linear_flops == own.linear_flops - int64_t{2} * 4 * 2 * 1024 * 4096);
  // MLA under share=2: the reader drops kv_a_proj_with_mqa [512 + 64, 7168] and kv_a_layernorm
  // [512], keeps kv_b_proj (it up-projects the shared latent for its own heads).
  const char* mla = "mla:d=7168,heads=128,c=512,qlora=1536,nope=128,rope=64,v=128,layers=2";
  CHECK(design_at((std::string(mla) + ",share=2").c_str(), 8192).attn_params ==
        design_at(mla, 8192).attn_params - (576 * 7168 + 512));
}

TEST_CASE("modifiers: kv_tied, sinks and gates change weights, not the cache", "[capacity][sparse]") {
  const ModelFigures base = design_at(kGqa, 8192);
  const ModelFigures tied = design_at(with("kv_tied=1").c_str(), 8192);
  CHECK(tied.attn_params == base.attn_params - 1024 * 4096);  // no v_proj
  CHECK(tied.kv_bytes_per_token == base.kv_bytes_per_token);  // vLLM still allocates V
  CHECK(tied.kv_bytes_per_token_minimal == 2048);              // K once
  CHECK(design_at(with("sinks=1").c_str(), 8192).attn_params == base.attn_params + 32);
  CHECK(design_at(with("gate=head").c_str(), 8192).attn_params == base.attn_params + 32 * 4096);
  CHECK(design_at(with("gate=elem").c_str(), 8192).attn_params == base.attn_params + 4096 * 4096);
  // Outside the GQA family an element gate is its own g_proj [h * v, d]: MLA 128 x 128 from 7168.
  const char* mla = "mla:d=7168,heads=128,c=512,qlora=1536,nope=128,rope=64,v=128,layers=1";
  CHECK(design_at((std::string(mla) + ",gate=elem").c_str(), 8192).attn_params ==
        design_at(mla, 8192).attn_params + 128 * 128 * 7168);
  CHECK(tied.kv_bytes == base.kv_bytes);
}

TEST_CASE("modifiers: the spec string round-trips through the JSON output", "[capacity][sparse]") {
  for (const char* spec : {"gqa:d=4096,heads=32,kv=1,hd=512,layers=2,compress=4,window=128,topk=512,index_heads=64,index_dim=128,sinks=1",
                           "gqa:d=2048,heads=32,kv=2,hd=64,layers=1,nsa=32/16/16/64/512,kv_tied=1",
                           "gqa:d=4096,heads=32,kv=8,hd=128,layers=4,moba=2048/4,share=2,gate=head"}) {
    INFO(spec);
    const ModelDesign m = parse_design_spec(spec);
    const nlohmann::json j = figures_to_json(at(m, 8192), nullptr, Convention::kExact);
    const ModelDesign back = parse_design_spec(j.at("design").get<std::string>());
    CHECK(back.layers == m.layers);
    CHECK(j.at("layer_kinds").at(0).at("fill_params").size() > 0);
  }
}

TEST_CASE("sweep: fill-rule modifiers are swept, cross-checked and reach the frontier", "[capacity][sparse]") {
  // GQA (32 heads of 128, every g) and one MLA shape, each plain, with DSA top-2048 and with
  // HCA-style compress=128,window=128, at T = 128K. Every reported row is re-evaluated with
  // compute_figures (run_sweep throws InternalError on any difference).
  SweepOptions o;
  o.space = default_sweep_space(4096, 8);
  o.space.families = {Variant::kGqa, Variant::kMla};
  o.space.heads = {32};
  o.space.head_dims = {128};
  o.space.mla_latents = {512};
  o.space.mla_nope = {128};
  o.space.mla_rope = {64};
  o.space.mla_q_lora = {0};
  o.space.modifiers = {parse_sweep_modifier("topk=2048,index_heads=64,index_dim=128"),
                       parse_sweep_modifier("compress=128,window=128")};
  o.context = 131072;
  // GQA 32 heads: g in {2, 4, 8, 16} (4 designs), MLA 1; each three ways.
  CHECK(sweep_space_size(o.space) == 15);
  const SweepResult r = run_sweep(o);
  CHECK(r.evaluated == 15);
  REQUIRE(r.best.size() == 6);
  bool topk_best = false, compressed_on_frontier = false;
  for (const auto& d : r.best) topk_best = topk_best || d.family == "mla+topk=2048,index_heads=64,index_dim=128";
  for (const auto& d : r.frontier) compressed_on_frontier = compressed_on_frontier || d.spec.find("compress=128") != std::string::npos;
  CHECK(topk_best);
  CHECK(compressed_on_frontier);  // it reads 1152 entries at 128K where the plain ones read 131072
  CHECK_THROWS_WITH(parse_sweep_modifier("share=2"), Catch::Contains("not a fill-rule key"));
  CHECK_THROWS_WITH(parse_sweep_modifier("window=128"), Catch::Contains("not a sparse or compressed fill rule"));
}
