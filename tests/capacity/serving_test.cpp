// Known answers of the serving figures (issue 15), worked by hand from the cards' datasheet
// values (H100 SXM: 989 TFLOP/s BF16, 1979 TFLOP/s FP8 dense, 3.35 TB/s, $2/h assumed).
#include <catch2/catch.hpp>

#include "gmha/attention/resolve.hpp"
#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/capacity/fit.hpp"
#include "gmha/capacity/serving.hpp"
#include "gmha/core/error.hpp"

using namespace gmha;

namespace {
ServingModel serve(const ModelDesign& m, int64_t context, ServingOptions o = {}) {
  return serving_model(m, compute_figures(m, {context, 1, Convention::kExact}), o);
}
}  // namespace

TEST_CASE("serving: Llama-3-8B on one H100 at 8K, batch 1 is the weight read", "[capacity][serving]") {
  // Parameters: 32 layers x (attention 41,943,040 + FFN 3 x 4096 x 14336 = 176,160,768)
  // = 6,979,321,856; embeddings 2 x 128256 x 4096 = 1,050,673,152; norms 4096 x 65 = 266,240;
  // total 8,030,261,248 -> 16,060,522,496 B in BF16. A step reads all but the input embedding
  // (a row lookup, 1,050,673,152 B): 15,009,849,344 B.
  // KV per token: 32 x 2 x 8 x 128 x 2 B = 131,072 B; at 8192 tokens 1,073,741,824 B (1 GiB).
  const ServingModel s = serve(read_preset("llama3-8b"), 8192);
  CHECK(s.weight_bytes_per_device == 16060522496.0);
  CHECK(weight_bytes_read_per_device(s, 1) == 15009849344.0);
  CHECK(s.kv_bytes_per_token_per_device == 131072.0);
  CHECK(s.kv_read_bytes_per_sequence_per_device == 1073741824.0);
  // FLOPs per token: attention 2 x 32 x 8192 x 256 x 32 = 4,294,967,296; projections
  // 2 x 41,943,040 x 32 = 2,684,354,560; FFN 2 x 176,160,768 x 32 = 11,274,289,152; head
  // 2 x 128256 x 4096 = 1,050,673,152; sum 19,304,284,160.
  CHECK(s.flops_per_token == 19304284160.0);
  const Hardware h100 = read_hardware("h100");

  // B = 1: (15,009,849,344 + 1,073,741,824) B / 3.35e12 B/s = 4.80107 ms; compute
  // 19.3e9 / 9.89e14 = 19.5 us: memory-bound. $2/h x 4.80107 ms per token = $2.6673 per 1M.
  const ServingPoint b1 = serving_point(s, h100, 1);
  CHECK(b1.bound == "memory");
  CHECK(b1.step_seconds == Approx(16083591168.0 / 3.35e12));
  CHECK(b1.step_seconds == Approx(4.80107e-3).epsilon(1e-5));
  CHECK(b1.usd_per_mtok == Approx(2.6673).epsilon(1e-4));
  CHECK(b1.tokens_per_second_per_device == Approx(208.29).epsilon(1e-4));
  // Weights are 15.01e9 / 16.08e9 = 93 % of the bytes read at batch 1.
  CHECK(b1.weight_bytes_read_per_step_per_device / b1.bytes_read_per_step_per_device > 0.9);

  // B = 64: 15,009,849,344 + 64 x 1,073,741,824 = 83,729,326,080 B -> 24.9938 ms per step,
  // still memory-bound (compute 64 x 19.3e9 / 9.89e14 = 1.25 ms); 64 / 24.9938 ms = 2560.6
  // tokens/s; $2/h x 24.9938 ms / 64 = $0.21696 per 1M, 12x cheaper than batch 1.
  const ServingPoint b64 = serving_point(s, h100, 64);
  CHECK(b64.bound == "memory");
  CHECK(b64.bytes_read_per_step_per_device == 83729326080.0);
  CHECK(b64.step_seconds == Approx(24.9938e-3).epsilon(1e-5));
  CHECK(b64.tokens_per_second_per_device == Approx(2560.63).epsilon(1e-5));
  CHECK(b64.usd_per_mtok == Approx(0.21696).epsilon(1e-4));
  // Weights < 10 % of a memory-bound step: W < 0.1 (W + B K), B > 9 W / K = 9 x 15,009,849,344
  // / 1,073,741,824 = 125.8, so B = 126.
  CHECK(b1.batch_weights_amortised == 126);
  CHECK(b64.batch_weights_amortised == 126);
}

TEST_CASE("serving: a compute-bound step halves from the BF16 to the FP8 peak", "[capacity][serving]") {
  // Llama-3-8B at T = 128, B = 4096 on H100. FLOPs per token: attention 2 x 32 x 128 x 256 x 32
  // = 67,108,864 + 2,684,354,560 + 11,274,289,152 + 1,050,673,152 = 15,076,425,728.
  // Compute: 4096 x 15,076,425,728 = 61,752,999,781,888 FLOPs; / 9.89e14 = 62.440 ms (BF16),
  // / 1.979e15 = 31.204 ms (FP8). Memory: 15,009,849,344 + 4096 x 128 x 131,072 =
  // 83,729,326,080 B / 3.35e12 = 24.994 ms: compute-bound at both peaks.
  const ModelDesign m = read_preset("llama3-8b");
  const Hardware h100 = read_hardware("h100");
  ServingOptions bf16;
  ServingOptions fp8;
  fp8.compute_dtype = ComputeDType::kFp8;
  const ServingPoint a = serving_point(serve(m, 128, bf16), h100, 4096);
  const ServingPoint b = serving_point(serve(m, 128, fp8), h100, 4096);
  CHECK(a.bound == "compute");
  CHECK(b.bound == "compute");
  CHECK(a.step_seconds == Approx(61752999781888.0 / 9.89e14));
  CHECK(b.step_seconds == Approx(61752999781888.0 / 1.979e15));
  CHECK(a.peak_flops_charged == 9.89e14);
  CHECK(b.compute_dtype == ComputeDType::kFp8);
  CHECK(a.memory_seconds == Approx(83729326080.0 / 3.35e12));
  // An A100 has no FP8: asked for FP8 it charges its BF16 peak and says so.
  const ServingPoint c = serving_point(serve(m, 128, fp8), read_hardware("a100"), 4096);
  CHECK(c.compute_dtype == ComputeDType::kBf16);
  CHECK(c.peak_flops_charged == 3.12e14);
}

TEST_CASE("serving: KV replication under tensor parallelism", "[capacity][serving]") {
  ServingOptions tp8;
  tp8.tp = 8;
  // DeepSeek-V3 at TP 8: the MLA latent (512) + RoPE key (64) is cached whole on every rank:
  // replication 8, 61 x 576 x 2 B = 70,272 B per token per device, as on one device.
  const ServingModel ds = serve(read_preset("deepseek-v3"), 8192, tp8);
  CHECK(ds.kv_replication == 8);
  CHECK(ds.kv_bytes_per_token_per_device == 70272.0);
  // Llama-3-70B at TP 16: 8 KV heads over 16 ranks, each head on 2 ranks, one per rank:
  // 80 x 2 x 1 x 128 x 2 B = 40,960 B per token per device (of 327,680 in all).
  ServingOptions tp16;
  tp16.tp = 16;
  const ServingModel l70 = serve(read_preset("llama3-70b"), 8192, tp16);
  CHECK(l70.kv_replication == 2);
  CHECK(l70.kv_bytes_per_token_per_device == 40960.0);
  // At TP 8 the heads split evenly: no replication, 327,680 / 8 = 40,960 B as well.
  const ServingModel l70_8 = serve(read_preset("llama3-70b"), 8192, tp8);
  CHECK(l70_8.kv_replication == 1);
  CHECK(l70_8.kv_bytes_per_token_per_device == 40960.0);
  // Intensity per device: attention FLOPs split 16 ways, the KV read only 8 ways -> half.
  const ServingModel l70_1 = serve(read_preset("llama3-70b"), 8192);
  CHECK(l70.arithmetic_intensity_per_device == Approx(l70_1.arithmetic_intensity_per_device / 2));
  ServingOptions tp3;
  tp3.tp = 3;
  CHECK_THROWS_AS(serve(read_preset("llama3-70b"), 8192, tp3), InputError);  // 64 heads, 3 ways
  // GLA-2 at TP 2 (Zadouri et al.'s point): each rank caches its one latent head (256) and the
  // shared RoPE key (64): (256 + 64) x 2 B = 640 B per layer, 24 layers = 15,360 B per device,
  // not half of the 27,648 B total (the RoPE key is on both ranks), and not all of it (MLA).
  ServingOptions tp2;
  tp2.tp = 2;
  const ServingModel gla = serve(resolve_model("gla:d=2048,heads=16,hc=2,c=256,nope=128,rope=64,v=128,layers=24"), 8192, tp2);
  CHECK(gla.kv_replication == 1);
  CHECK(gla.kv_bytes_per_token_per_device == 15360.0);
}

TEST_CASE("serving: multi-token decode scales FLOPs and intensity, not the KV read", "[capacity][serving]") {
  const ModelDesign m = read_preset("llama3-8b");
  ServingOptions q4;
  q4.decode_tokens = 4;
  const ServingModel one = serve(m, 8192);
  const ServingModel four = serve(m, 8192, q4);
  CHECK(four.kv_read_bytes_per_sequence_per_device == one.kv_read_bytes_per_sequence_per_device);
  CHECK(four.arithmetic_intensity_per_device == Approx(4 * one.arithmetic_intensity_per_device));
  const Hardware h100 = read_hardware("h100");
  // Memory-bound at batch 1: the same step serves 4 tokens, a quarter of the cost per token.
  CHECK(serving_point(four, h100, 1).usd_per_mtok == Approx(serving_point(one, h100, 1).usd_per_mtok / 4));
  ServingOptions q0;
  q0.decode_tokens = 0;
  CHECK_THROWS_AS(serve(m, 8192, q0), InputError);
}

TEST_CASE("serving: prefill FLOPs of a small design by hand", "[capacity][serving]") {
  // gqa d=64, 4 heads, 2 KV heads of 16, FFN 128 (GLU), 2 layers, no vocabulary, T = 8.
  // Per token and layer: projections 2 x (64x64 + 32x64 + 32x64 + 64x64) = 24,576; FFN
  // 2 x 3 x 64 x 128 = 49,152. One query-key pair: 2 x 4 x (16 + 16) = 256.
  // Causal pairs: 1 + 2 + ... + 8 = 36 (half the 8 x 8 score matrix plus the diagonal).
  // Per layer 8 x (24,576 + 49,152) + 36 x 256 = 589,824 + 9,216 = 599,040; x 2 = 1,198,080.
  const ModelDesign full = parse_design_spec("gqa:d=64,heads=4,kv=2,hd=16,layers=2,ffn=128");
  const ModelFigures f = compute_figures(full, {8, 1, Convention::kExact});
  CHECK(prefill_flops(full, f, 8, Convention::kExact) == 1198080.0);
  // A window of 4 caps each row: 1 + 2 + 3 + 4 + 4 x 4 = 26 pairs -> 589,824 + 6,656 =
  // 596,480 per layer, 1,192,960 in all.
  const ModelDesign win = parse_design_spec("gqa:d=64,heads=4,kv=2,hd=16,layers=2,ffn=128,window=4");
  CHECK(prefill_flops(win, compute_figures(win, {8, 1, Convention::kExact}), 8, Convention::kExact) ==
        1192960.0);
  // Chunks of 4: two full chunks of 10 pairs each at T = 8, 20 pairs -> 589,824 + 5,120.
  const ModelDesign chunk = parse_design_spec("gqa:d=64,heads=4,kv=2,hd=16,layers=2,ffn=128,chunk=4");
  CHECK(prefill_flops(chunk, compute_figures(chunk, {8, 1, Convention::kExact}), 8, Convention::kExact) ==
        2 * (589824.0 + 5120.0));
  // TTFT on a custom card (1e6 FLOP/s, 1e6 B/s, $3600/h = $1/s): 1,198,080 / 1e6 s plus the
  // weights read once, 2 x (12,288 + 24,576) + 64 x 5 norms = 74,048 parameters x 2 B = 148,096 B
  // -> 0.148096 s; TTFT 1.346176 s, $1.346176 / 8 tokens = $168,272 per 1M prompt tokens.
  const Hardware card{"c", 3600, 1e6, 0, 1e6};
  const ServingPoint p = serving_point(serving_model(full, f, {}), card, 1);
  CHECK(p.ttft_seconds == Approx(1.346176));
  CHECK(p.prefill_usd_per_mtok == Approx(1.346176 / 8 * 1e6));
}

TEST_CASE("serving: MoE weight reads follow the experts a batch touches", "[capacity][serving]") {
  // E = 8, k = 2: one token touches 2; two touch 8 (1 - (6/8)^2) = 3.5 on average.
  CHECK(expected_experts_touched(8, 2, 1) == Approx(2.0));
  CHECK(expected_experts_touched(8, 2, 2) == Approx(3.5));
  CHECK(expected_experts_touched(8, 2, 1e6) == Approx(8.0));
  // Mixtral-8x7B (8 experts, top-2): at batch 1 a step reads 2 of 8 experts per layer; a large
  // batch reads them all, up to the stored weights minus the input embedding.
  const ServingModel s = serve(read_preset("mixtral-8x7b"), 4096);
  const double all = s.weight_bytes_per_device - s.input_embedding_bytes_per_device;
  const GroupShard& g = s.shards.front();
  CHECK(weight_bytes_read_per_device(s, 1) == Approx(all - 32 * 6 * g.expert_bytes_per_gpu));
  CHECK(weight_bytes_read_per_device(s, 1e6) == Approx(all));
}

TEST_CASE("serving: expert parallelism waits for the busiest expert group", "[capacity][serving]") {
  // t touched of E experts in M groups of E/M, the touched set uniform given t (worked by hand):
  // E = 4, M = 2, t = 1: one group holds it, max 1. t = 2: both in one group with probability
  // 2 C(2,2) / C(4,2) = 1/3, so E[max] = 2/3 + 2 x 1/3 = 4/3.
  CHECK(expected_busiest_group_experts(4, 2, 1) == Approx(1.0));
  CHECK(expected_busiest_group_experts(4, 2, 2) == Approx(4.0 / 3));
  CHECK(expected_busiest_group_experts(4, 1, 2) == 2.0);  // no EP: every rank reads all touched
  CHECK(expected_busiest_group_experts(8, 2, 8) == Approx(4.0));  // all touched: E/M each
  // E = 8, M = 2: t = 3 all in one group with probability 2 C(4,3) / C(8,3) = 1/7 -> 15/7;
  // t = 4: (4,0) 2/70, (3,1) 32/70, (2,2) 36/70 -> 176/70; t = 3.5 interpolates: 163/70.
  CHECK(expected_busiest_group_experts(8, 2, 3) == Approx(15.0 / 7));
  CHECK(expected_busiest_group_experts(8, 2, 4) == Approx(176.0 / 70));
  CHECK(expected_busiest_group_experts(8, 2, 3.5) == Approx(163.0 / 70));

  // Mixtral-8x7B (8 experts, top-2) on 2 devices. Stored: the same either way (each device holds
  // 4 whole experts under EP 2, half of all 8 under TP 2). Batch 1 touches 2 experts: TP reads
  // half of each (1 expert's worth per layer); EP 2 reads whole experts on the busiest device,
  // 10/7 of them (both in one group with probability 2 C(4,2) / C(8,2) = 3/7).
  const ModelDesign mixtral = read_preset("mixtral-8x7b");
  ServingOptions tp2;
  tp2.tp = 2;
  ServingOptions ep2 = tp2;
  ep2.ep = 2;
  const ServingModel a = serve(mixtral, 4096, tp2);
  const ServingModel b = serve(mixtral, 4096, ep2);
  CHECK(a.weight_bytes_per_device == Approx(b.weight_bytes_per_device));
  const double expert = b.shards.front().expert_bytes_per_gpu;  // one whole expert under EP 2
  CHECK(a.shards.front().expert_bytes_per_gpu == Approx(expert / 2));
  CHECK(weight_bytes_read_per_device(b, 1) - weight_bytes_read_per_device(a, 1) ==
        Approx(32 * (10.0 / 7 - 1) * expert));
  // A large batch touches every expert: EP and TP read the same.
  CHECK(weight_bytes_read_per_device(b, 1e6) == Approx(weight_bytes_read_per_device(a, 1e6)));
  CHECK(serving_point(b, read_hardware("h100"), 1).ep == 2);

  // M must divide the devices and every MoE layer's experts.
  ServingOptions bad = tp2;
  bad.ep = 4;
  CHECK_THROWS_WITH(serve(mixtral, 4096, bad), Catch::StartsWith("ep: 4") && Catch::Contains("2 devices"));
  ModelDesign six = mixtral;  // 6 experts do not form 4 groups
  for (LayerSpec& l : six.layers) l.ffn.routed_experts = 6;
  ServingOptions tp4;
  tp4.tp = 4;
  tp4.ep = 4;
  CHECK_THROWS_WITH(serve(six, 4096, tp4), Catch::StartsWith("ep: 4") && Catch::Contains("6 routed experts"));
  tp4.ep = 2;
  CHECK_NOTHROW(serve(six, 4096, tp4));
}

TEST_CASE("hardware: BF16, FP8 and FP4 peaks and ridges from the datasheets", "[capacity][serving]") {
  const Hardware h100 = read_hardware("h100");
  CHECK(h100.ridge(ComputeDType::kBf16) == Approx(9.89e14 / 3.35e12));  // 295.2 FLOP/B
  CHECK(h100.ridge(ComputeDType::kFp8) == Approx(1.979e15 / 3.35e12));  // 590.7 FLOP/B
  CHECK(h100.charged_dtype(ComputeDType::kFp4) == ComputeDType::kFp8);   // Hopper has no FP4
  const Hardware b200 = read_hardware("b200");
  CHECK(b200.peak_flops(ComputeDType::kFp4) == 9e15);  // 18 PFLOP/s sparse per GPU / 2
  CHECK(b200.ridge(ComputeDType::kFp4) == Approx(1125.0));
  CHECK(read_hardware("a800").peak_flops(ComputeDType::kFp8) == 3.12e14);  // BF16 fallback
  CHECK(read_compute_dtype("fp4") == ComputeDType::kFp4);
  CHECK_THROWS_AS(read_compute_dtype("fp16"), InputError);
  CHECK(parse_hardware_def("x:price=1,bf16=1e15,fp8=2e15,fp4=4e15,bw=1e12").fp4_flops == 4e15);
  CHECK_THROWS_AS(parse_hardware_def("x:price=1,bf16=1e15,fp4=4e15,bw=1e12"), InputError);
}

TEST_CASE("weights: bits per weight count the block and group scales", "[capacity][serving]") {
  CHECK(read_weight_format("bf16", "w").bits_per_weight == 16);
  CHECK(read_weight_format("fp8", "w").bits_per_weight == 8.001953125);  // + 32 / (128 x 128)
  CHECK(read_weight_format("int4", "w").bits_per_weight == 4.15625);     // + (16 + 4) / 128
  CHECK(read_weight_format("mxfp4", "w").bits_per_weight == 4.25);       // + 8 / 32
  CHECK(read_weight_format("nvfp4", "w").bits_per_weight == 4.5);        // + 8 / 16
  CHECK_THROWS_AS(read_weight_format("fp6", "--weight-dtype"), InputError);
  // The default follows the config: quantization_config first, then torch_dtype.
  auto quantized = [](const char* method, const char* format, const char* dtype) {
    ModelDesign m;
    m.name = "m";
    m.quant_method = method;
    m.quant_format = format;
    m.torch_dtype = dtype;
    return default_weight_format(m);
  };
  CHECK(quantized("fp8", "e4m3", "bfloat16").name == "fp8");
  CHECK(quantized("modelopt", "NVFP4", "").name == "nvfp4");
  CHECK(quantized("mxfp4", "", "bfloat16").name == "mxfp4");
  CHECK(quantized("", "", "float32").name == "fp32");
  CHECK(quantized("", "", "").name == "bf16");
  CHECK(quantized("", "", "float32").uniform());
  CHECK_FALSE(quantized("mxfp4", "", "bfloat16").uniform());  // experts only (weight_scope_test)
  CHECK_THROWS_AS(quantized("bitsandbytes", "", ""), InputError);  // fail closed
  // FP8 weights halve Llama-3-8B's stored bytes, plus one FP32 scale per 128 x 128 block.
  ServingOptions fp8;
  fp8.weights = read_weight_format("fp8", "w");
  CHECK(serve(read_preset("llama3-8b"), 8192, fp8).weight_bytes_per_device ==
        Approx(8030261248.0 * 8.001953125 / 8));
}

TEST_CASE("fit: the longest context stops at max_position_embeddings and says so", "[capacity][serving]") {
  // Llama-3-8B on an H200 holds 845,638 tokens of KV but was trained to 8192.
  FitOptions o;
  o.card = read_hardware("h200");
  const FitResult f = compute_fit(read_preset("llama3-8b"), o);
  REQUIRE(f.max_context.has_value());
  CHECK(*f.max_context == 8192);
  CHECK(f.capped_at_model_max);
  // A design without a stated maximum is bounded by memory alone.
  const FitResult d = compute_fit(parse_design_spec("gqa:d=4096,heads=32,kv=8,hd=128,layers=32"), o);
  CHECK_FALSE(d.capped_at_model_max);
  CHECK(*d.max_context > 8192);
}

TEST_CASE("weights: presets take the published quantization_config as their default format",
          "[capacity][serving]") {
  // gpt-oss ships MXFP4 experts; DeepSeek-V3, V3.2 and Kimi K2 FP8 with 128x128 block scales
  // (their config.json).
  CHECK(weights_of(read_preset("gpt-oss-120b"), "").name == "mxfp4");
  CHECK(weights_of(read_preset("deepseek-v3.2"), "").name == "fp8");
  CHECK(weights_of(read_preset("deepseek-v3"), "").name == "fp8");
  CHECK(weights_of(read_preset("kimi-k2"), "").name == "fp8");
  CHECK(weights_of(read_preset("deepseek-v2-lite"), "").name == "bf16");
  CHECK(weights_of(read_preset("llama3-8b"), "").name == "bf16");
  CHECK(weights_of(read_preset("gpt-oss-120b"), "bf16").name == "bf16");  // --weight-dtype wins
}
