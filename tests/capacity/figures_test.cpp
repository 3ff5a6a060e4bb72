// Known answers computed by hand from docs/capacity.md; each comment shows the arithmetic.
#include <catch2/catch.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/capacity/closed_form.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/core/error.hpp"

using namespace gmha;

namespace {
ModelFigures at(const std::string& spec, int64_t t, Convention c = Convention::kExact) {
  return compute_figures(parse_design_spec(spec), {t, 1, c});
}
}  // namespace

TEST_CASE("figures: Llama-3-8B GQA by hand", "[capacity]") {
  const auto f = compute_figures(read_preset("llama3-8b"), {8192, 1, Convention::kExact});
  // Cache: K and V of g=8 heads of h=128 -> 2*8*128 = 2048 elements; bf16 -> 4096 B; 32 layers.
  CHECK(f.groups.at(0).kv_elements_per_token_per_layer == 2048);
  CHECK(f.kv_bytes_per_token == 131072);
  CHECK(f.decode_kv_bytes_read == 131072.0 * 8192);
  // q 4096x4096 + k,v 1024x4096 + o 4096x4096 = 41,943,040 per layer.
  CHECK(f.groups.at(0).attn_params_per_layer == 41943040);
  // 4*n*h*T*L = 4*32*128*8192*32.
  CHECK(f.attn_flops == 4294967296LL);
  CHECK(f.linear_flops == 2LL * 41943040 * 32);
  // GLU: 2 * 3 * 4096 * 14336 * 32.
  CHECK(f.ffn_flops == 11274289152LL);
  // AI = 4*n*h / (2*g*h*2 B) = 16384 / 4096 = 4, independent of T.
  CHECK(f.arithmetic_intensity == Approx(4.0));
  CHECK(f.ranks.frh == 128);
  CHECK(f.ranks.slsd == 1024);
  CHECK(f.ranks.ter == 4096);
  // Embeddings 128256*4096*2, norms 4096*(2*32+1).
  CHECK(f.total_params == 32LL * (41943040 + 3LL * 4096 * 14336) + 128256LL * 4096 * 2 + 4096LL * 65);
}

TEST_CASE("figures: DeepSeek-V3 MLA parameters and cache by hand", "[capacity]") {
  const auto f = compute_figures(read_preset("deepseek-v3"), {32768, 1, Convention::kExact});
  // q_a 1536*7168 + 1536 + q_b 128*192*1536 + kv_a 576*7168 + 512 + kv_b 128*256*512 + o 7168*16384
  CHECK(f.groups.at(0).attn_params_per_layer == 187107328);
  // Deployed cache: latent 512 + shared RoPE key 64 = 576 elements per token per layer.
  CHECK(f.groups.at(0).kv_elements_per_token_per_layer == 576);
  // Total: attention 61 layers, 3 dense FFN, 58 MoE (256 experts + 1 shared + router), embeddings.
  CHECK(f.total_params == 671026404352LL);
  // Exact absorbed decode: QK over 576, PV over 512: 2*128*T*(576+512)*61.
  CHECK(f.attn_flops == 2LL * 128 * 32768 * 1088 * 61);
  const auto p = compute_figures(read_preset("deepseek-v3"), {32768, 1, Convention::kStep3Paper});
  CHECK(p.attn_flops == 2LL * 128 * 32768 * 1152 * 61);
  CHECK(f.ranks.frh == 128);
  CHECK(f.ranks.slsd == 512);
  CHECK(f.ranks.ter == 16384);
  CHECK(f.kv_heads == 1);
}

TEST_CASE("figures: Step-3 MFA arithmetic intensity is 128 at fp8", "[capacity]") {
  ModelDesign m = read_preset("step3");
  apply_step3_paper_precision(m);
  const auto f = compute_figures(m, {8192, 1, Convention::kStep3Paper});
  // q_proj 2048*7168 + inter_norm 2048 + wq 16384*2048 + k,v 256*7168 + o 7168*16384.
  CHECK(f.groups.at(0).attn_params_per_layer == 169347072);
  // 4*m*C / (2C * 1 B) = 4*64*256/512 = 128; cache 61 * 512 B * 8192.
  CHECK(f.arithmetic_intensity == Approx(128.0));
  CHECK(f.decode_kv_bytes_read == 61.0 * 512 * 8192);
  CHECK(f.ranks.ter == 64 * 256);
  // Dense layers 0-3 and 60 (18432), MoE 4-59: 3 of 48 experts + 1 shared, each 5120.
  CHECK(f.ffn_flops == 2LL * 3 * 7168 * (5LL * 18432 + 56LL * 4 * 5120));
}

TEST_CASE("figures: MFA-KR caches only K and absorbs N into o_proj", "[capacity]") {
  const auto kr = at("mfa-kr:d=1024,heads=8,c=64,cq=128,layers=2", 100);
  const auto mfa = at("mfa:d=1024,heads=8,c=64,cq=128,layers=2", 100);
  CHECK(kr.groups[0].kv_elements_per_token_per_layer == 64);
  CHECK(mfa.groups[0].kv_elements_per_token_per_layer == 128);
  // KR drops v_proj (64*1024) and adds N (64*64) + alpha (64).
  CHECK(kr.attn_params - mfa.attn_params == 2 * (64 * 64 + 64 - 64 * 1024));
  // Linear FLOPs: v_proj gone, N absorbed (free at decode).
  CHECK(mfa.linear_flops - kr.linear_flops == 2 * 2 * 64 * 1024);
  CHECK(kr.attn_flops == mfa.attn_flops);
}

TEST_CASE("figures: FPBA caches 2d^2 per token and has 2d^3 parameters", "[capacity]") {
  const auto f = at("fpba:d=64", 10);
  CHECK(f.groups[0].kv_elements_per_token_per_layer == 2 * 64 * 64);
  CHECK(f.attn_params == 2LL * 64 * 64 * 64);
  CHECK(f.ranks.ter == 64 * 64);
  // d heads, each QK and PV of width d: 2 * d * T * 2d.
  CHECK(f.attn_flops == 2LL * 64 * 10 * 128);
}

TEST_CASE("figures: sliding windows cap the tokens read at min(T, W)", "[capacity]") {
  const auto m = read_preset("mistral-7b-v0.1");
  CHECK(compute_figures(m, {2048, 1, Convention::kExact}).groups[0].effective_tokens == 2048);
  const auto f = compute_figures(m, {32768, 1, Convention::kExact});
  CHECK(f.groups[0].effective_tokens == 4096);
  CHECK(f.decode_kv_bytes_read == 32.0 * 4096 * 4096);
  CHECK(f.kv_bytes == 32.0 * 4096 * 4096);  // the cache keeps the window only
}

TEST_CASE("figures: chunked layers read ((T-1) mod C)+1 exactly, min(T,C) in step3-paper", "[capacity]") {
  const AttentionSpan chunk{SpanKind::kChunked, 8192};
  CHECK(effective_tokens(chunk, 8192, Convention::kExact) == 8192);
  CHECK(effective_tokens(chunk, 8193, Convention::kExact) == 1);
  CHECK(effective_tokens(chunk, 8193, Convention::kStep3Paper) == 8192);
  CHECK(effective_tokens(chunk, 100, Convention::kStep3Paper) == 100);
}

TEST_CASE("figures: Llama 4 is 36 chunked + 12 global layers, MoE every second layer", "[capacity]") {
  ModelDesign m = read_preset("llama4-maverick");
  apply_step3_paper_precision(m);
  const auto f = compute_figures(m, {32768, 1, Convention::kStep3Paper});
  // Chunked layers fp8: 36 * 8192 * 2048 B; global NoPE layers bf16: 12 * 32768 * 4096 B.
  CHECK(f.decode_kv_bytes_read == 36.0 * 8192 * 2048 + 12.0 * 32768 * 4096);
  int moe = 0, chunked = 0;
  for (const auto& l : m.layers) {
    moe += l.ffn.kind == FfnKind::kMoe;
    chunked += l.span.kind == SpanKind::kChunked;
  }
  CHECK(moe == 24);
  CHECK(chunked == 36);
}

TEST_CASE("figures: MiniMax-M1 reads and writes 70 fp32 linear states per token", "[capacity]") {
  ModelDesign m = read_preset("minimax-m1");
  apply_step3_paper_precision(m);
  const auto f = compute_figures(m, {8192, 1, Convention::kStep3Paper});
  const double state = 64.0 * 128 * 128 * 4;  // heads * d_k * d_v * fp32
  // 10 softmax layers bf16 (2*8*128*2 B per token) + 70 states read and written.
  CHECK(f.decode_kv_bytes_read == 10.0 * 8192 * 4096 + 70 * 2 * state);
  CHECK(f.kv_bytes == 10.0 * 8192 * 4096 + 70 * state);
  CHECK(f.variant == "hybrid(Linear+GQA)");
}

TEST_CASE("figures: whole cache scales with batch, per-token figures do not", "[capacity]") {
  const auto m = read_preset("qwen3-32b");
  const auto b1 = compute_figures(m, {4096, 1, Convention::kExact});
  const auto b8 = compute_figures(m, {4096, 8, Convention::kExact});
  CHECK(b8.kv_bytes == 8 * b1.kv_bytes);
  CHECK(b8.decode_kv_bytes_read == b1.decode_kv_bytes_read);
  CHECK(b8.attn_flops == b1.attn_flops);
}

TEST_CASE("figures: int4 KV keeps exact half bytes", "[capacity]") {
  // MQA with h=1 head dim: 2 elements per token * 0.5 B = 1 B; 3 layers.
  const auto f = at("mqa:d=2,heads=2,hd=1,layers=3,kv_dtype=int4", 5);
  CHECK(f.kv_bytes_per_token == 3.0);
  const auto g = at("gqa:d=2,heads=2,kv=1,hd=1,layers=1,kv_dtype=int4", 1);
  CHECK(g.kv_bytes_per_token == 1.0);
}

TEST_CASE("figures: KV of GQA is MHA divided by the group size", "[capacity]") {
  const auto mha = at("mha:d=4096,heads=32,layers=4", 1000);
  for (int g : {1, 2, 4, 8, 16, 32}) {
    const auto gqa = at("gqa:d=4096,heads=32,kv=" + std::to_string(g) + ",hd=128,layers=4", 1000);
    CHECK(gqa.kv_bytes_per_token * (32 / g) == mha.kv_bytes_per_token);
    CHECK(gqa.ranks.ter == mha.ranks.ter);
    CHECK(gqa.attn_flops == mha.attn_flops);
  }
}

TEST_CASE("closed form: Table 1 agrees with the concrete counts where it applies", "[capacity]") {
  for (const char* spec : {"mha:d=512,heads=8", "mqa:d=512,heads=8", "gqa:d=512,heads=8,kv=2,hd=64",
                           "mfa:d=512,heads=8,c=64,cq=128", "mfa-kr:d=512,heads=8,c=64,cq=64",
                           "fpba:d=16", "mla:d=512,heads=8,c=64,nope=32,rope=16,v=32"}) {
    const ModelDesign m = parse_design_spec(spec);
    const AttentionShape& a = m.layers[0].attention;
    const ClosedForm cf = closed_form(a);
    const auto f = compute_figures(m, {10, 1, Convention::kExact});
    INFO(spec);
    CHECK(cf.heads == a.heads);
    CHECK(cf.frh == f.ranks.frh);
    CHECK(cf.slsd == f.ranks.slsd);
    CHECK(cf.ter == f.ranks.ter);
    if (a.variant == Variant::kMla) {
      // The paper's 2C is idealised; the deployed cache is C + h_rope (docs/capacity.md).
      CHECK(cf.kv_per_token_per_layer == 2 * 64);
      CHECK(f.groups[0].kv_elements_per_token_per_layer == 64 + 16);
    } else {
      CHECK(cf.kv_per_token_per_layer == f.groups[0].kv_elements_per_token_per_layer);
    }
  }
}

TEST_CASE("closed form: MFA FRH is bounded by C_q when C_q < C", "[capacity]") {
  const auto f = at("mfa:d=512,heads=8,c=64,cq=32", 10);
  CHECK(f.ranks.frh == 32);
  CHECK(f.ranks.frh_bound == "C_q");
  CHECK(f.ranks.ter == 8 * 32);
}

TEST_CASE("figures: every preset computes and has consistent totals", "[capacity]") {
  for (const auto& p : list_presets()) {
    INFO(p.name);
    const auto f = compute_figures(read_preset(p.name), {32768, 4, Convention::kExact});
    int64_t attn = 0;
    double read = 0;
    for (const auto& g : f.groups) {
      attn += g.attn_flops;
      read += g.decode_kv_bytes_read;
    }
    CHECK(attn == f.attn_flops);
    CHECK(read == f.decode_kv_bytes_read);
    CHECK(f.total_params >= f.active_params);
    CHECK(f.active_params > f.attn_params);
    CHECK(f.arithmetic_intensity > 0);
  }
}

TEST_CASE("figures: impossible inputs are input errors, never wrapped numbers", "[capacity]") {
  const auto m = read_preset("llama3-8b");
  CHECK_THROWS_AS(compute_figures(m, {0, 1, Convention::kExact}), InputError);
  CHECK_THROWS_AS(compute_figures(m, {10, -1, Convention::kExact}), InputError);
  // 2^62 tokens * 131072 B overflows 64 bits.
  CHECK_THROWS_AS(compute_figures(m, {1LL << 62, 1, Convention::kExact}), InputError);
  CHECK_THROWS_AS(parse_design_spec("gqa:d=4294967296,heads=4294967296,kv=1,hd=4294967296"), InputError);
}
